use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::support::{harness, harness_with, producer, tp, NOW};
use crate::transactions::{TransactionConfig, TxnState};

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
async fn after_a_restart_prepared_transactions_complete_and_open_ones_wait_for_their_timeout() {
    let h = harness();
    let open = h.open("open", &[tp("b", 0)]).await;
    h.stuck_committing("committing", &[tp("a", 0)]).await;
    let h = h.restarted();
    assert_eq!(h.state("committing").await.state, TxnState::PrepareCommit);
    assert_eq!(h.state("open").await.state, TxnState::Ongoing);
    h.coordinator.recover(NOW + 1).await;
    assert_eq!(h.state("committing").await.state, TxnState::CompleteCommit);
    // As Kafka's coordinator after loading its log: the open transaction's
    // producer may have outlived the broker, and can still commit.
    assert_eq!(h.state("open").await.state, TxnState::Ongoing);
    let markers: Vec<_> = h
        .markers()
        .into_iter()
        .map(|m| (m.partitions[0].clone(), m.commit))
        .collect();
    assert_eq!(markers, vec![(tp("a", 0), true)]);
    // Its producer gone, the timeout (30 s in the harness) aborts it.
    h.coordinator.tick(NOW + 29_999).await;
    assert_eq!(h.state("open").await.state, TxnState::Ongoing);
    h.coordinator.tick(NOW + 30_000).await;
    let aborted = h.state("open").await;
    assert_eq!(aborted.state, TxnState::CompleteAbort);
    assert_eq!(aborted.producer_epoch, open.1 + 1, "its producer is fenced");
    assert_eq!(h.markers()[1].partitions, vec![tp("b", 0)]);
    assert!(!h.markers()[1].commit);
    // And that is stored: another restart has nothing left to do.
    let h = h.restarted();
    h.coordinator.recover(NOW + 30_001).await;
    assert!(h.markers().is_empty());
}

#[tokio::test]
async fn an_open_transaction_survives_a_restart_and_commits() {
    let h = harness();
    let p = h.open("tx", &[tp("t", 0)]).await;
    let h = h.restarted();
    h.coordinator.recover(NOW + 1).await;
    h.coordinator
        .add(producer("tx", p), vec![tp("t", 1)], Vec::new(), 0, NOW + 2)
        .await
        .expect("the same producer goes on");
    h.coordinator
        .end(producer("tx", p), true, 0, NOW + 3)
        .await
        .expect("EndTxn");
    assert_eq!(h.settled("tx").await.state, TxnState::CompleteCommit);
    assert_eq!(h.markers()[0].partitions, vec![tp("t", 0), tp("t", 1)]);
}

#[tokio::test]
async fn the_background_task_aborts_and_expires_each_on_its_own_interval() {
    // Timeouts every 10 ms, expiry every 2 s; an id idle 5 s expires.
    let expiry_interval = Duration::from_millis(2_000);
    let h = harness_with(TransactionConfig {
        max_timeout_ms: 60_000,
        id_expiration_ms: 5_000,
        check_interval_ms: 10,
        expiry_check_interval_ms: expiry_interval.as_millis() as i64,
    });
    let now = crate::groups::group::now_ms();
    // Last touched 10 s ago: past its expiration from the start, so only
    // the expiry check's own timer decides when it goes.
    h.coordinator
        .init_producer_id("idle", 30_000, None, now - 10_000)
        .await
        .expect("InitProducerId");
    let short = h
        .coordinator
        .init_producer_id("short", 1, None, now)
        .await
        .expect("InitProducerId");
    h.coordinator
        .add(
            producer("short", (short.producer_id, short.epoch)),
            vec![tp("t", 0)],
            Vec::new(),
            0,
            now,
        )
        .await
        .expect("AddPartitionsToTxn");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    let task = tokio::spawn(Arc::clone(&h.coordinator).run(stopped));
    let (mut aborted_at, mut expired_at) = (None, None);
    while expired_at.is_none() && started.elapsed() < Duration::from_secs(30) {
        let short_state = h.coordinator.describe("short").await.map(|m| m.state);
        if aborted_at.is_none() && short_state == Some(TxnState::CompleteAbort) {
            aborted_at = Some(started.elapsed());
        }
        if h.coordinator.describe("idle").await.is_none() {
            expired_at = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(true).expect("task listening");
    task.await.expect("task ends");
    let aborted_at = aborted_at.expect("the timed-out transaction is aborted");
    let expired_at = expired_at.expect("the idle id is removed by the expiry check");
    // The 10 ms timeout checks ran (they aborted "short") while the idle id
    // stayed: they do not expire ids; the first expiry check, one interval
    // after start (as Kafka schedules it), removed it.
    assert!(
        aborted_at < expired_at,
        "{aborted_at:?} then {expired_at:?}"
    );
    assert!(
        expired_at >= expiry_interval,
        "removed after {expired_at:?}, before the expiry interval"
    );
    // Aborted 2 s ago at most: not idle long enough to expire with it.
    assert_eq!(
        h.state("short").await.state,
        TxnState::CompleteAbort,
        "an id expires only transactional.id.expiration.ms after its last update"
    );
}
