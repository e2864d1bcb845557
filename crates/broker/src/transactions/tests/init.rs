use kafka_protocol::error::ResponseError;

use super::support::{harness, producer, tp, Harness, NOW};
use crate::transactions::metadata::{TransactionMetadata, NO_PRODUCER_EPOCH};
use crate::transactions::{ProducerIdAndEpoch, TxnState};

fn expect(producer_id: i64, epoch: i16) -> Option<ProducerIdAndEpoch> {
    Some(ProducerIdAndEpoch { producer_id, epoch })
}

#[tokio::test]
async fn a_new_id_starts_at_epoch_zero_and_each_init_bumps_it() {
    let h = harness();
    let (id, epoch) = h.init("tx").await;
    assert_eq!(epoch, 0);
    assert_eq!(h.init("tx").await, (id, 1));
    let state = h.state("tx").await;
    assert_eq!(state.state, TxnState::Empty);
    assert_eq!(
        (state.last_producer_epoch, state.previous_producer_id),
        (NO_PRODUCER_EPOCH, id)
    );
    // Another transactional id gets another producer id.
    assert_ne!(h.init("other").await.0, id);
}

#[tokio::test]
async fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut exhausted = TransactionMetadata::new(5, 30_000, NOW);
    exhausted.producer_epoch = i16::MAX - 1;
    let h = Harness::seeded("tx", &exhausted).await;
    let (id, epoch) = h.init("tx").await;
    assert_ne!(id, 5);
    assert_eq!(epoch, 0);
    let state = h.state("tx").await;
    assert_eq!(
        (state.previous_producer_id, state.last_producer_epoch),
        (5, NO_PRODUCER_EPOCH)
    );

    // KIP-360: the producer names its exhausted epoch; the retry of that
    // call (the answer was lost) is recognised by the previous id.
    let h = Harness::seeded("tx", &exhausted).await;
    let rotated = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(5, i16::MAX - 1), NOW)
        .await
        .unwrap();
    assert_eq!(rotated.epoch, 0);
    assert_eq!(h.state("tx").await.last_producer_epoch, i16::MAX - 1);
    let retried = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(5, i16::MAX - 1), NOW)
        .await
        .unwrap();
    assert_eq!(retried.producer_id, rotated.producer_id);
}

#[tokio::test]
async fn kip_360_recovery_bumps_the_named_epoch_and_fences_others() {
    let h = harness();
    let (id, _) = h.init("tx").await;
    let bumped = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(id, 0), NOW)
        .await;
    assert_eq!(
        bumped,
        Ok(ProducerIdAndEpoch {
            producer_id: id,
            epoch: 1
        })
    );
    // The same call again: the answer was lost, the same answer comes back.
    let retried = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(id, 0), NOW)
        .await;
    assert_eq!(retried, bumped);
    let stale = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(id, 5), NOW)
        .await;
    assert_eq!(stale, Err(ResponseError::ProducerFenced));
    let stranger = h
        .coordinator
        .init_producer_id("tx", 30_000, expect(id + 1, 1), NOW)
        .await;
    assert_eq!(stranger, Err(ResponseError::ProducerFenced));
    // A first call naming an id (its state expired) is served: nothing to fence.
    let fresh = h
        .coordinator
        .init_producer_id("new", 30_000, expect(77, 3), NOW)
        .await;
    assert_eq!(fresh.map(|g| g.epoch), Ok(0));
}

#[tokio::test]
async fn an_open_transaction_is_aborted_and_its_producer_fenced() {
    let h = harness();
    let first = h.open("tx", &[tp("t", 0), tp("t", 1)]).await;
    let again = h
        .coordinator
        .init_producer_id("tx", 30_000, None, NOW + 1)
        .await;
    assert_eq!(again, Err(ResponseError::ConcurrentTransactions));
    let settled = h.settled("tx").await;
    assert_eq!(settled.state, TxnState::CompleteAbort);
    let markers = h.markers();
    assert_eq!(markers.len(), 1);
    assert!(!markers[0].commit);
    assert_eq!(
        markers[0].producer_epoch,
        first.1 + 1,
        "aborted at the fencing epoch"
    );
    assert_eq!(markers[0].partitions, vec![tp("t", 0), tp("t", 1)]);
    // The retry gets the epoch after the fence.
    assert_eq!(h.init("tx").await, (first.0, first.1 + 2));
    let zombie = h
        .coordinator
        .add(
            producer("tx", first),
            vec![tp("t", 2)],
            Vec::new(),
            0,
            NOW + 2,
        )
        .await;
    assert_eq!(zombie, Err(ResponseError::ProducerFenced));
}

#[tokio::test]
async fn a_transaction_being_completed_answers_concurrent_transactions() {
    let h = harness();
    let p = h.stuck_committing("tx", &[tp("t", 0)]).await;
    let init = h
        .coordinator
        .init_producer_id("tx", 30_000, None, NOW)
        .await;
    assert_eq!(init, Err(ResponseError::ConcurrentTransactions));
    let add = h
        .coordinator
        .add(producer("tx", p), vec![tp("u", 0)], Vec::new(), 0, NOW)
        .await;
    assert_eq!(add, Err(ResponseError::ConcurrentTransactions));
}

#[tokio::test]
async fn timeouts_and_ids_are_checked_before_anything_is_stored() {
    let h = harness();
    for timeout in [0, -1, 60_001] {
        let refused = h
            .coordinator
            .init_producer_id("tx", timeout, None, NOW)
            .await;
        assert_eq!(refused, Err(ResponseError::InvalidTransactionTimeout));
    }
    let empty = h.coordinator.init_producer_id("", 1000, None, NOW).await;
    assert_eq!(empty, Err(ResponseError::InvalidRequest));
    assert!(h.coordinator.describe("tx").await.is_none());
}
