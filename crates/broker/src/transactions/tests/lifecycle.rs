use kafka_protocol::error::ResponseError;

use super::support::{harness, producer, tp, NOW};
use crate::transactions::{ProducerIdAndEpoch, TxnState};

#[tokio::test]
async fn a_commit_marks_every_partition_and_group_then_completes() {
    let h = harness();
    let p = h.open("tx", &[tp("a", 0)]).await;
    let c = &h.coordinator;
    c.add(
        producer("tx", p),
        vec![tp("b", 3), tp("a", 0)],
        Vec::new(),
        0,
        NOW + 5,
    )
    .await
    .unwrap();
    c.add(
        producer("tx", p),
        Vec::new(),
        vec!["group".to_string()],
        0,
        NOW + 6,
    )
    .await
    .unwrap();
    let open = h.state("tx").await;
    assert_eq!(open.state, TxnState::Ongoing);
    assert_eq!(
        open.start_timestamp_ms, NOW,
        "started with the first partition"
    );
    let answer = c.end(producer("tx", p), true, 0, NOW + 10).await.unwrap();
    assert_eq!(
        answer,
        ProducerIdAndEpoch {
            producer_id: p.0,
            epoch: p.1
        }
    );
    let done = h.settled("tx").await;
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert!(done.partitions.is_empty() && done.groups.is_empty());
    let markers = h.markers();
    assert_eq!(markers.len(), 1);
    assert!(markers[0].commit);
    assert_eq!(markers[0].partitions, vec![tp("a", 0), tp("b", 3)]);
    assert_eq!(markers[0].groups, vec!["group".to_string()]);
    // A retried commit is answered again; an abort now is not.
    assert_eq!(
        c.end(producer("tx", p), true, 0, NOW + 11).await,
        Ok(answer)
    );
    assert_eq!(
        c.end(producer("tx", p), false, 0, NOW + 11).await,
        Err(ResponseError::InvalidTxnState)
    );
    // The next transaction starts from CompleteCommit.
    c.add(producer("tx", p), vec![tp("c", 0)], Vec::new(), 0, NOW + 20)
        .await
        .unwrap();
    assert_eq!(h.state("tx").await.start_timestamp_ms, NOW + 20);
    c.end(producer("tx", p), false, 0, NOW + 21).await.unwrap();
    assert_eq!(h.settled("tx").await.state, TxnState::CompleteAbort);
    assert_eq!(h.markers()[1].partitions, vec![tp("c", 0)]);
}

#[tokio::test]
async fn requests_from_the_wrong_producer_are_refused() {
    let h = harness();
    let c = &h.coordinator;
    let unknown = c
        .add(
            producer("nobody", (1, 0)),
            vec![tp("t", 0)],
            Vec::new(),
            0,
            NOW,
        )
        .await;
    assert_eq!(unknown, Err(ResponseError::InvalidProducerIdMapping));
    let p = h.init("tx").await;
    let other_id = c
        .add(
            producer("tx", (p.0 + 1, p.1)),
            vec![tp("t", 0)],
            Vec::new(),
            0,
            NOW,
        )
        .await;
    assert_eq!(other_id, Err(ResponseError::InvalidProducerIdMapping));
    let newer = h.init("tx").await;
    let old_epoch = c
        .add(producer("tx", p), vec![tp("t", 0)], Vec::new(), 0, NOW)
        .await;
    assert_eq!(old_epoch, Err(ResponseError::ProducerFenced));
    assert_eq!(
        c.end(producer("tx", p), true, 0, NOW).await,
        Err(ResponseError::ProducerFenced)
    );
    // Nothing open: neither decision is valid before transaction version 2.
    for commit in [true, false] {
        assert_eq!(
            c.end(producer("tx", newer), commit, 0, NOW).await,
            Err(ResponseError::InvalidTxnState)
        );
    }
    assert_eq!(
        c.end(producer("", newer), true, 0, NOW).await,
        Err(ResponseError::InvalidRequest)
    );
}

#[tokio::test]
async fn verification_answers_per_partition() {
    let h = harness();
    let p = h.open("tx", &[tp("t", 0)]).await;
    let c = &h.coordinator;
    let verdicts = c.verify(producer("tx", p), &[tp("t", 0), tp("t", 1)]).await;
    assert_eq!(
        verdicts,
        vec![
            (tp("t", 0), Ok(())),
            (tp("t", 1), Err(ResponseError::TransactionAbortable))
        ]
    );
    let fenced = c
        .verify(producer("tx", (p.0, p.1 - 1)), &[tp("t", 0)])
        .await;
    assert_eq!(
        fenced,
        vec![(tp("t", 0), Err(ResponseError::ProducerFenced))]
    );
    let unknown = c.verify(producer("nobody", p), &[tp("t", 0)]).await;
    assert_eq!(
        unknown,
        vec![(tp("t", 0), Err(ResponseError::InvalidProducerIdMapping))]
    );
    // Verification adds nothing.
    assert_eq!(h.state("tx").await.partitions.len(), 1);
}

#[tokio::test]
async fn transaction_version_2_bumps_the_epoch_at_every_end() {
    let h = harness();
    let c = &h.coordinator;
    let p = h.init("tx").await;
    c.add(producer("tx", p), vec![tp("t", 0)], Vec::new(), 2, NOW)
        .await
        .unwrap();
    let after_commit = c.end(producer("tx", p), true, 2, NOW).await.unwrap();
    assert_eq!(
        after_commit,
        ProducerIdAndEpoch {
            producer_id: p.0,
            epoch: p.1 + 1
        }
    );
    assert_eq!(
        h.markers_settled_epoch().await,
        p.1 + 1,
        "markers at the bumped epoch"
    );
    // The retry comes at the old epoch and gets the same answer.
    assert_eq!(
        c.end(producer("tx", p), true, 2, NOW).await,
        Ok(after_commit)
    );
    // An abort with nothing open is allowed and bumps again.
    let q = (after_commit.producer_id, after_commit.epoch);
    let after_abort = c.end(producer("tx", q), false, 2, NOW).await.unwrap();
    assert_eq!(after_abort.epoch, q.1 + 1);
    assert_eq!(h.settled("tx").await.state, TxnState::CompleteAbort);
}

impl super::support::Harness {
    async fn markers_settled_epoch(&self) -> i16 {
        self.settled("tx").await;
        self.markers()
            .last()
            .expect("markers written")
            .producer_epoch
    }
}
