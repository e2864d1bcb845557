use super::*;
use crate::log::marker::TxnMarker;

const NOW: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;

fn header(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    base_offset: i64,
    count: i64,
) -> HeaderInfo {
    HeaderInfo {
        base_offset,
        size: 100,
        last_offset: base_offset + count - 1,
        max_timestamp: NOW,
        partition_leader_epoch: 0,
        magic: 2,
        log_append_time: false,
        producer_id,
        producer_epoch: epoch,
        base_sequence,
        is_transactional: false,
        is_control: false,
    }
}

/// Checks and, if fresh, applies: what an append does.
fn append(states: &mut ProducerStates, h: HeaderInfo) -> Result<Option<BatchMetadata>> {
    match states.check(&[h], NOW)? {
        Checked::Fresh(staged) => {
            states.apply(staged, NOW);
            Ok(None)
        }
        Checked::Duplicate(original) => Ok(Some(original)),
    }
}

fn is_out_of_order<T: std::fmt::Debug>(result: Result<T>) -> bool {
    matches!(result, Err(StorageError::OutOfOrderSequence(_)))
}

#[test]
fn a_new_producer_starts_anywhere_then_must_follow_on() {
    let mut states = ProducerStates::new(DAY_MS);
    assert_eq!(append(&mut states, header(7, 0, 42, 0, 3)).unwrap(), None);
    assert_eq!(append(&mut states, header(7, 0, 45, 3, 2)).unwrap(), None);
    // A gap, and a step back that is no retry of a kept batch.
    assert!(is_out_of_order(append(&mut states, header(7, 0, 48, 5, 1))));
    assert!(is_out_of_order(append(&mut states, header(7, 0, 43, 5, 1))));
    // Not idempotent: never checked.
    assert_eq!(append(&mut states, header(-1, -1, -1, 5, 1)).unwrap(), None);
    assert_eq!(append(&mut states, header(-1, -1, -1, 6, 1)).unwrap(), None);
}

#[test]
fn a_retry_of_one_of_the_last_five_batches_gets_its_original_offsets() {
    let mut states = ProducerStates::new(DAY_MS);
    for i in 0..6 {
        assert_eq!(
            append(&mut states, header(7, 0, i * 2, 100 + i64::from(i) * 2, 2)).unwrap(),
            None
        );
    }
    // Batches 1..=5 are kept (sequences 2..=11), batch 0 (0..=1) is not.
    for i in 1..6 {
        let original = append(&mut states, header(7, 0, i * 2, 999, 2))
            .unwrap()
            .unwrap();
        assert_eq!(original.first_offset, 100 + i64::from(i) * 2);
        assert_eq!(original.last_offset, 101 + i64::from(i) * 2);
        assert_eq!((original.first_seq, original.last_seq), (i * 2, i * 2 + 1));
    }
    assert!(is_out_of_order(append(
        &mut states,
        header(7, 0, 0, 999, 2)
    )));
    // Same first sequence, different length: no duplicate, and out of order.
    assert!(is_out_of_order(append(
        &mut states,
        header(7, 0, 10, 999, 1)
    )));
    // The same sequences from another epoch are no duplicate.
    assert_eq!(append(&mut states, header(7, 1, 0, 112, 2)).unwrap(), None);
}

#[test]
fn epochs_only_move_forward_and_a_new_one_starts_at_zero() {
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, header(7, 3, 0, 0, 5)).unwrap();
    assert!(matches!(
        append(&mut states, header(7, 2, 5, 5, 1)),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert!(is_out_of_order(append(&mut states, header(7, 4, 5, 5, 1))));
    assert_eq!(append(&mut states, header(7, 4, 0, 5, 1)).unwrap(), None);
    // The old epoch is gone now, its retries included.
    assert!(matches!(
        append(&mut states, header(7, 3, 0, 6, 5)),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert_eq!(append(&mut states, header(7, 4, 1, 6, 1)).unwrap(), None);
}

#[test]
fn sequences_wrap_at_i32_max() {
    assert_eq!(last_sequence(i32::MAX - 1, 2), 0);
    assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
    assert_eq!(last_sequence(i32::MAX, 3), 2);
    assert_eq!(last_sequence(5, 3), 8);
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, header(7, 0, i32::MAX - 1, 0, 2)).unwrap();
    assert_eq!(append(&mut states, header(7, 0, 0, 2, 3)).unwrap(), None);
    // A batch that wraps inside itself, then its retry.
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, header(7, 0, i32::MAX - 1, 0, 4)).unwrap();
    assert_eq!(append(&mut states, header(7, 0, 2, 4, 1)).unwrap(), None);
    let original = append(&mut states, header(7, 0, i32::MAX - 1, 9, 4))
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            original.first_offset,
            original.last_offset,
            original.last_seq
        ),
        (0, 3, 1)
    );
}

#[test]
fn an_idle_producer_expires_and_may_then_start_anywhere() {
    let mut states = ProducerStates::new(1_000);
    let mut old = header(7, 0, 0, 0, 1);
    old.max_timestamp = NOW - 1_000;
    append(&mut states, old).unwrap();
    // Expired: its retry is not known any more, and a gap is accepted.
    assert_eq!(append(&mut states, header(7, 0, 0, 1, 1)).unwrap(), None);
    let mut states = ProducerStates::new(1_000);
    let mut recent = header(7, 0, 0, 0, 1);
    recent.max_timestamp = NOW - 999;
    append(&mut states, recent).unwrap();
    assert!(append(&mut states, header(7, 0, 0, 1, 1))
        .unwrap()
        .is_some());
    // The sweep drops expired producers.
    let mut states = ProducerStates::new(1_000);
    append(&mut states, old).unwrap();
    states.last_sweep_ms = 0;
    states.apply(Staged::default(), NOW);
    assert!(states.is_empty());
}

#[test]
fn several_batches_of_one_append_are_checked_in_order() {
    let mut states = ProducerStates::new(DAY_MS);
    let batches = [
        header(7, 0, 0, 0, 2),
        header(7, 0, 2, 2, 2),
        header(8, 0, 0, 4, 1),
    ];
    let Checked::Fresh(staged) = states.check(&batches, NOW).unwrap() else {
        panic!("fresh batches taken for a duplicate");
    };
    states.apply(staged, NOW);
    assert_eq!(states.len(), 2);
    // The second batch leaves a gap: the whole append is refused, and
    // nothing of it is kept.
    assert!(is_out_of_order(
        states.check(&[header(7, 0, 4, 5, 2), header(7, 0, 7, 7, 1)], NOW)
    ));
    assert_eq!(append(&mut states, header(7, 0, 4, 5, 1)).unwrap(), None);
    assert_eq!(
        append(&mut states, header(7, 0, 2, 9, 2))
            .unwrap()
            .map(|b| b.first_offset),
        Some(2)
    );
}

#[test]
fn replaying_the_log_rebuilds_what_appends_built() {
    let mut appended = ProducerStates::new(DAY_MS);
    let mut replayed = ProducerStates::new(DAY_MS);
    let log = [
        header(7, 0, 0, 0, 2),
        header(8, 1, 40, 2, 1),
        header(-1, -1, -1, 3, 4),
        header(7, 0, 2, 7, 3),
        header(7, 1, 0, 10, 1),
        header(8, 1, 41, 11, 1),
    ];
    for h in log {
        append(&mut appended, h).unwrap();
        replayed.replay(&h);
    }
    assert_eq!(appended.producers, replayed.producers);
}

#[test]
fn producers_whose_batches_were_deleted_are_forgotten() {
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, header(7, 0, 0, 0, 5)).unwrap();
    append(&mut states, header(8, 0, 0, 5, 5)).unwrap();
    states.truncate_head(5);
    assert_eq!(states.len(), 1);
    // Producer 7 is unknown now: its retry is written again.
    assert_eq!(append(&mut states, header(7, 0, 0, 10, 5)).unwrap(), None);
    assert!(append(&mut states, header(8, 0, 0, 15, 5))
        .unwrap()
        .is_some());
    // The log start only moves up.
    states.truncate_head(3);
    assert_eq!(states.len(), 2);
}

#[test]
fn a_snapshot_holds_the_state_and_a_damaged_one_is_refused() {
    let mut states = ProducerStates::new(DAY_MS);
    for i in 0..7 {
        append(&mut states, header(7, 2, i * 3, i64::from(i) * 3, 3)).unwrap();
    }
    append(&mut states, header(8, 0, i32::MAX, 21, 1)).unwrap();
    let bytes = states.encode_snapshot().unwrap();
    let decoded = ProducerStates::decode_snapshot(&bytes, DAY_MS).unwrap();
    assert_eq!(decoded.producers, states.producers);
    assert_eq!(decoded.producers[&7].batches.len(), BATCHES_KEPT);
    for at in [0, 9, bytes.len() / 2, bytes.len() - 1] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        assert!(
            ProducerStates::decode_snapshot(&damaged, DAY_MS).is_err(),
            "flip at {at}"
        );
    }
    assert!(ProducerStates::decode_snapshot(&bytes[..bytes.len() - 1], DAY_MS).is_err());
    let empty = ProducerStates::new(DAY_MS).encode_snapshot().unwrap();
    assert!(ProducerStates::decode_snapshot(&empty, DAY_MS)
        .unwrap()
        .is_empty());
}

fn txn_header(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    base_offset: i64,
    count: i64,
) -> HeaderInfo {
    HeaderInfo {
        is_transactional: true,
        ..header(producer_id, epoch, base_sequence, base_offset, count)
    }
}

fn marker_header(producer_id: i64, epoch: i16, offset: i64) -> HeaderInfo {
    HeaderInfo {
        is_transactional: true,
        is_control: true,
        base_sequence: -1,
        ..header(producer_id, epoch, -1, offset, 1)
    }
}

fn marker(producer_id: i64, epoch: i16, commit: bool) -> TxnMarker {
    TxnMarker {
        producer_id,
        producer_epoch: epoch,
        commit,
        coordinator_epoch: 0,
    }
}

#[test]
fn a_transaction_is_open_from_its_first_batch_to_its_marker() {
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, header(9, 0, 0, 0, 2)).unwrap();
    assert_eq!(states.first_unstable_offset(), None);
    append(&mut states, txn_header(7, 0, 0, 2, 2)).unwrap();
    append(&mut states, txn_header(8, 0, 0, 4, 1)).unwrap();
    append(&mut states, txn_header(7, 0, 2, 5, 1)).unwrap();
    assert_eq!(states.first_unstable_offset(), Some(2));
    let checked = states.check_marker(&marker(7, 0, false), 6, NOW).unwrap();
    let done = states.apply_marker(&marker(7, 0, false), 6, NOW);
    assert_eq!(checked, done);
    assert_eq!(
        done,
        Some(CompletedTxn {
            producer_id: 7,
            first_offset: 2,
            last_offset: 6,
            aborted: true,
            last_stable_offset: 4,
        })
    );
    assert_eq!(states.first_unstable_offset(), Some(4));
    let done = states.apply_marker(&marker(8, 0, true), 7, NOW).unwrap();
    assert_eq!(
        (done.first_offset, done.aborted, done.last_stable_offset),
        (4, false, 8)
    );
    assert_eq!(states.first_unstable_offset(), None);
    // The next transaction of the same producer opens at its own first batch.
    append(&mut states, txn_header(7, 0, 3, 8, 1)).unwrap();
    assert_eq!(states.first_unstable_offset(), Some(8));
    // While it is open, the producer may not write outside it (Kafka's
    // INVALID_TXN_STATE); a marker without data here ends nothing.
    assert!(matches!(
        append(&mut states, header(7, 0, 4, 9, 1)),
        Err(StorageError::InvalidTxnState(_))
    ));
    assert_eq!(
        states.check_marker(&marker(9, 0, false), 9, NOW).unwrap(),
        None
    );
    assert_eq!(states.apply_marker(&marker(9, 0, false), 9, NOW), None);
}

#[test]
fn a_producer_with_an_open_transaction_neither_expires_nor_is_truncated_away() {
    let mut states = ProducerStates::new(1_000);
    let mut old = txn_header(7, 0, 0, 0, 1);
    old.max_timestamp = NOW - 10_000;
    append(&mut states, old).unwrap();
    states.last_sweep_ms = 0;
    states.apply(Staged::default(), NOW);
    states.truncate_head(5);
    assert_eq!(states.len(), 1);
    assert_eq!(states.first_unstable_offset(), Some(0));
    // Still known: its retry is a duplicate.
    assert!(append(&mut states, old).unwrap().is_some());
}

#[test]
fn replaying_markers_rebuilds_epochs_and_open_transactions() {
    let mut appended = ProducerStates::new(DAY_MS);
    let mut replayed = ProducerStates::new(DAY_MS);
    let log = [
        (txn_header(7, 0, 0, 0, 2), None),
        (txn_header(8, 1, 0, 2, 1), None),
        (marker_header(7, 1, 3), Some(marker(7, 1, false))),
        (txn_header(7, 1, 0, 4, 1), None),
        (header(9, 0, 0, 5, 1), None),
    ];
    for (h, m) in log {
        match m {
            Some(m) => {
                appended.check_marker(&m, h.base_offset, NOW).unwrap();
                appended.apply_marker(&m, h.base_offset, NOW);
                // The header does not carry the coordinator epoch: 0 here,
                // as the rebuilt state will not know it.
                appended.producers.get_mut(&7).unwrap().coordinator_epoch = -1;
            }
            None => {
                append(&mut appended, h).unwrap();
            }
        }
        replayed.replay(&h);
    }
    assert_eq!(appended.producers, replayed.producers);
    assert_eq!(replayed.ongoing, appended.ongoing);
    assert_eq!(replayed.first_unstable_offset(), Some(2));
    // Epoch 0 of producer 7 is fenced by the marker at epoch 1.
    assert!(matches!(
        append(&mut replayed, txn_header(7, 0, 2, 6, 1)),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
}

#[test]
fn a_snapshot_keeps_open_transactions_and_the_old_format_still_reads() {
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, txn_header(7, 2, 0, 0, 3)).unwrap();
    append(&mut states, header(8, 0, 0, 3, 1)).unwrap();
    states.apply_marker(
        &TxnMarker {
            coordinator_epoch: 6,
            ..marker(8, 0, true)
        },
        4,
        NOW,
    );
    let decoded =
        ProducerStates::decode_snapshot(&states.encode_snapshot().unwrap(), DAY_MS).unwrap();
    assert_eq!(decoded.producers, states.producers);
    assert_eq!(decoded.first_unstable_offset(), Some(0));
    assert_eq!(decoded.producers[&8].coordinator_epoch, 6);

    // Format 1, as written before transactions: one producer, one batch.
    let mut v1 = Vec::new();
    crate::framing::encode_frame_with(&mut v1, "producer snapshot", |out| {
        out.push(1);
        crate::framing::put_count(out, 1);
        out.extend_from_slice(&7i64.to_be_bytes());
        out.extend_from_slice(&2i32.to_be_bytes());
        out.extend_from_slice(&NOW.to_be_bytes());
        crate::framing::put_count(out, 1);
        for field in [0i32, 2] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        for field in [0i64, 2, NOW] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        Ok(())
    })
    .unwrap();
    let mut old = ProducerStates::decode_snapshot(&v1, DAY_MS).unwrap();
    assert_eq!(old.first_unstable_offset(), None);
    assert_eq!(old.producers[&7].coordinator_epoch, -1);
    // Its batch is known: the retry is a duplicate.
    assert_eq!(
        append(&mut old, header(7, 2, 0, 9, 3))
            .unwrap()
            .map(|b| b.first_offset),
        Some(0)
    );
}

#[test]
fn a_marker_at_the_last_possible_offset_does_not_overflow() {
    // Offsets near i64::MAX come only from a damaged or hostile segment
    // replayed at recovery; the stable offset after its marker saturates
    // instead of wrapping to a negative offset (or panicking where overflow
    // is checked, as in the fuzz builds).
    let mut states = ProducerStates::new(DAY_MS);
    append(&mut states, txn_header(7, 0, 0, i64::MAX - 1, 1)).unwrap();
    let checked = states
        .check_marker(&marker(7, 0, false), i64::MAX, NOW)
        .unwrap()
        .unwrap();
    let done = states
        .apply_marker(&marker(7, 0, false), i64::MAX, NOW)
        .unwrap();
    assert_eq!(checked.last_stable_offset, i64::MAX);
    assert_eq!(done.last_stable_offset, i64::MAX);
}
