//! What DescribeProducers reads from a partition (`active_producers`):
//! rebuilt from the log after a restart before any append, without the
//! producers that expired or whose batches were deleted, an open
//! transaction kept until its marker.

use std::path::Path;
use std::sync::Arc;

use fjord_storage::local::LocalLogStore;
use fjord_storage::{
    ActiveProducer, Durability, LogConfig, LogStore, PartitionLog, TopicIdPartition, TxnMarker,
};
use fjord_testkit::batches::{idempotent_batch, now_ms, transactional_batch};

const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0xac7_1fe);

async fn open(dir: &Path, config: LogConfig) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, "described", 0), config)
        .await
        .unwrap();
    (store, log)
}

/// A log whose producers expire 60 s after their last write.
async fn open_expiring(dir: &Path) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let config = LogConfig {
        producer_id_expiration_ms: 60_000,
        ..LogConfig::default()
    };
    open(dir, config).await
}

/// The producer ids described.
async fn described_ids(log: &Arc<dyn PartitionLog>) -> Vec<i64> {
    let described = log.active_producers().await.unwrap();
    described.iter().map(|p| p.producer_id).collect()
}

#[tokio::test]
async fn producers_are_described_after_a_restart_before_any_append() {
    let dir = tempfile::tempdir().unwrap();
    let at = now_ms();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        assert!(log.active_producers().await.unwrap().is_empty());
        for (producer, count) in [(12, 4), (5, 2)] {
            log.append(
                idempotent_batch(count, producer, 3, 0, at),
                Durability::Synced,
            )
            .await
            .unwrap();
        }
    }
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    let expected = |producer_id, last_sequence| ActiveProducer {
        producer_id,
        producer_epoch: 3,
        last_sequence,
        last_timestamp: at,
        coordinator_epoch: -1,
        current_txn_start_offset: -1,
    };
    assert_eq!(
        log.active_producers().await.unwrap(),
        vec![expected(5, 1), expected(12, 3)]
    );
}

#[tokio::test]
async fn expired_producers_are_not_described() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open_expiring(dir.path()).await;
    let now = now_ms();
    log.append(
        idempotent_batch(1, 1, 0, 0, now - 120_000),
        Durability::Written,
    )
    .await
    .unwrap();
    log.append(idempotent_batch(1, 2, 0, 0, now), Durability::Written)
        .await
        .unwrap();
    assert_eq!(described_ids(&log).await, vec![2]);
}

#[tokio::test]
async fn an_open_transaction_is_described_past_expiration_until_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open_expiring(dir.path()).await;
    let long_ago = now_ms() - 120_000;
    log.append(
        transactional_batch(3, 8, 2, 0, long_ago),
        Durability::Written,
    )
    .await
    .unwrap();
    // Kafka expires no producer whose transaction is open.
    let open = ActiveProducer {
        producer_id: 8,
        producer_epoch: 2,
        last_sequence: 2,
        last_timestamp: long_ago,
        coordinator_epoch: -1,
        current_txn_start_offset: 0,
    };
    assert_eq!(log.active_producers().await.unwrap(), vec![open]);

    // Transaction version 2: the marker carries the bumped epoch, which
    // forgets the sequences of the old one (Kafka's
    // maybeUpdateProducerEpoch), and its own timestamp.
    let before = now_ms();
    let marker = TxnMarker {
        producer_id: 8,
        producer_epoch: 3,
        commit: true,
        coordinator_epoch: 5,
    };
    log.append_marker(marker).await.unwrap();
    let described = log.active_producers().await.unwrap();
    assert_eq!(described.len(), 1);
    assert!(described[0].last_timestamp >= before, "{described:?}");
    let ended = ActiveProducer {
        producer_epoch: 3,
        last_sequence: -1,
        last_timestamp: described[0].last_timestamp,
        coordinator_epoch: 5,
        current_txn_start_offset: -1,
        ..open
    };
    assert_eq!(described, vec![ended]);
}

#[tokio::test]
async fn producers_whose_batches_were_deleted_are_not_described() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    let at = now_ms();
    for producer in [1, 2] {
        log.append(idempotent_batch(1, producer, 0, 0, at), Durability::Written)
            .await
            .unwrap();
    }
    // DeleteRecords up to producer 2's batch: a rebuild from the log would
    // not know producer 1 either (Kafka's truncateHead).
    log.delete_records_before(1).await.unwrap();
    assert_eq!(described_ids(&log).await, vec![2]);
}
