use std::sync::atomic::Ordering;

use super::support::{harness, producer, tp, NOW};
use crate::transactions::TxnState;

#[tokio::test]
async fn an_open_transaction_is_aborted_once_past_its_timeout() {
    let h = harness();
    let p = h.open("tx", &[tp("t", 0)]).await;
    // The harness opens transactions with a 30 s timeout.
    h.coordinator.tick(NOW + 29_999).await;
    assert_eq!(h.state("tx").await.state, TxnState::Ongoing);
    assert!(h.markers().is_empty());
    h.coordinator.tick(NOW + 30_000).await;
    let aborted = h.state("tx").await;
    assert_eq!(aborted.state, TxnState::CompleteAbort);
    assert_eq!(aborted.producer_epoch, p.1 + 1, "its producer is fenced");
    let markers = h.markers();
    assert_eq!((markers.len(), markers[0].commit), (1, false));
    let late = h
        .coordinator
        .end(producer("tx", p), true, 0, NOW + 30_001)
        .await;
    assert_eq!(
        late,
        Err(kafka_protocol::error::ResponseError::ProducerFenced)
    );
}

#[tokio::test]
async fn failed_markers_are_written_again_by_the_next_tick() {
    let h = harness();
    h.stuck_committing("tx", &[tp("t", 0)]).await;
    h.coordinator.tick(NOW + 1).await;
    assert_eq!(h.state("tx").await.state, TxnState::PrepareCommit);
    h.markers.failing.store(false, Ordering::SeqCst);
    h.coordinator.tick(NOW + 2).await;
    assert_eq!(h.state("tx").await.state, TxnState::CompleteCommit);
    assert!(h.markers()[0].commit);
}

#[tokio::test]
async fn idle_transactional_ids_expire_and_open_ones_do_not() {
    let h = harness();
    h.init("idle").await;
    h.open("busy", &[tp("t", 0)]).await;
    let expiry = super::support::config().id_expiration_ms;
    // Long past both: the open one is aborted by its timeout, not expired.
    h.coordinator.tick(NOW + expiry - 1).await;
    assert!(h.coordinator.describe("idle").await.is_some());
    h.coordinator.tick(NOW + expiry).await;
    assert!(h.coordinator.describe("idle").await.is_none());
    assert_eq!(h.state("busy").await.state, TxnState::CompleteAbort);
    // Expired for good: a new InitProducerId starts it afresh at epoch 0.
    let h = h.restarted();
    assert!(h.coordinator.describe("idle").await.is_none());
    assert_eq!(h.init("idle").await.1, 0);
}

#[tokio::test]
async fn after_a_restart_prepared_transactions_complete_and_open_ones_abort() {
    let h = harness();
    h.open("open", &[tp("b", 0)]).await;
    h.stuck_committing("committing", &[tp("a", 0)]).await;
    let h = h.restarted();
    assert_eq!(h.state("committing").await.state, TxnState::PrepareCommit);
    assert_eq!(h.state("open").await.state, TxnState::Ongoing);
    h.coordinator.recover(NOW + 1).await;
    assert_eq!(h.state("committing").await.state, TxnState::CompleteCommit);
    assert_eq!(h.state("open").await.state, TxnState::CompleteAbort);
    let mut markers: Vec<_> = h
        .markers()
        .into_iter()
        .map(|m| (m.partitions[0].clone(), m.commit))
        .collect();
    markers.sort();
    assert_eq!(markers, vec![(tp("a", 0), true), (tp("b", 0), false)]);
    // And that is stored: another restart has nothing left to do.
    let h = h.restarted();
    h.coordinator.recover(NOW + 2).await;
    assert!(h.markers().is_empty());
}
