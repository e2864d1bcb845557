use crate::transactions::metadata::TransactionMetadata;
use crate::transactions::TxnState::{self, *};

#[test]
fn exactly_kafkas_transitions_are_legal() {
    let legal: &[(TxnState, &[TxnState])] = &[
        (Empty, &[Empty, CompleteCommit, CompleteAbort]),
        (Ongoing, &[Ongoing, Empty, CompleteCommit, CompleteAbort]),
        (PrepareCommit, &[Ongoing]),
        (
            PrepareAbort,
            &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
        ),
        (CompleteCommit, &[PrepareCommit]),
        (CompleteAbort, &[PrepareAbort]),
        (Dead, &[Empty, CompleteCommit, CompleteAbort]),
        (PrepareEpochFence, &[Ongoing]),
    ];
    for (to, froms) in legal {
        for from in TxnState::ALL {
            assert_eq!(
                to.may_follow(from),
                froms.contains(&from),
                "{from:?} -> {to:?}"
            );
        }
    }
    let expirable: Vec<_> = TxnState::ALL
        .into_iter()
        .filter(|s| s.may_expire())
        .collect();
    assert_eq!(expirable, vec![Empty, CompleteCommit, CompleteAbort]);
    assert_eq!(PrepareEpochFence.name(), "PrepareEpochFence");
}

#[test]
fn illegal_transitions_are_refused_not_taken() {
    let empty = TransactionMetadata::new(7, 1000, 5);
    assert!(empty.prepare_complete(6).is_err(), "Empty cannot complete");
    assert!(
        empty.prepare_fence_and_abort(6).is_err(),
        "nothing to fence"
    );
    assert!(
        empty.prepare_end(true, 0, None, 6).is_err(),
        "nothing to commit"
    );
    let ongoing = empty.prepare_add([("t".to_string(), 0)], [], 0, 6).unwrap();
    assert!(ongoing.prepare_epoch_bump(1000, None, 7).is_err());
    let prepared = ongoing.prepare_end(true, 0, None, 7).unwrap();
    assert!(prepared.prepare_add([], [], 0, 8).is_err());
    assert!(prepared.prepare_end(false, 0, None, 8).is_err());
}

#[test]
fn stored_state_round_trips_and_an_unknown_format_is_refused() {
    let metadata = TransactionMetadata::new(42, 9000, 123)
        .prepare_add([("t".to_string(), 3)], ["g".to_string()], 2, 200)
        .unwrap();
    assert_eq!(
        TransactionMetadata::decode(&metadata.encode()).unwrap(),
        metadata
    );
    let mut json: serde_json::Value = serde_json::from_slice(&metadata.encode()).unwrap();
    json["format"] = 9.into();
    assert!(TransactionMetadata::decode(&serde_json::to_vec(&json).unwrap()).is_err());
    assert!(TransactionMetadata::decode(b"{").is_err());
}
