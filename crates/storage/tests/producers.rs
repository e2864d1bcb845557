//! Idempotent producers through a real local log: duplicates answered with
//! their original offsets and not stored again, sequence and epoch errors,
//! and the state rebuilt from the log after a crash or a clean restart.

use std::path::Path;
use std::sync::Arc;

use fjord_storage::batch::{batches, HeaderInfo};
use fjord_storage::local::LocalLogStore;
use fjord_storage::log::producers::ProducerStates;
use fjord_storage::{
    Durability, LogConfig, LogStore, PartitionLog, StorageError, TopicIdPartition,
};
use fjord_testkit::batches::{idempotent_batch, now_ms};

const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x1de_0707);
const PRODUCER: i64 = 4242;

async fn open(dir: &Path, config: LogConfig) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, "payments", 0), config)
        .await
        .unwrap();
    (store, log)
}

async fn append(
    log: &Arc<dyn PartitionLog>,
    count: usize,
    epoch: i16,
    sequence: i32,
) -> Result<(i64, i64), StorageError> {
    let batch = idempotent_batch(count, PRODUCER, epoch, sequence, now_ms());
    log.append(batch, Durability::Synced)
        .await
        .map(|outcome| (outcome.base_offset, outcome.last_offset))
}

/// (base offset, base sequence) of every stored batch.
async fn stored(log: &Arc<dyn PartitionLog>) -> Vec<(i64, i32)> {
    let read = log.read(0, 1 << 20, true).await.unwrap();
    batches(&read.records)
        .map(|batch| {
            let batch = batch.unwrap();
            (batch.base_offset(), batch.base_sequence())
        })
        .collect()
}

#[tokio::test]
async fn a_retried_batch_is_answered_with_its_offsets_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(append(&log, 3, 0, 0).await.unwrap(), (0, 2));
    assert_eq!(append(&log, 2, 0, 3).await.unwrap(), (3, 4));
    assert_eq!(append(&log, 3, 0, 0).await.unwrap(), (0, 2));
    assert_eq!(append(&log, 2, 0, 3).await.unwrap(), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(stored(&log).await, vec![(0, 0), (3, 3)]);
    // A gap, then an older epoch, then a new epoch not starting at 0.
    assert!(matches!(
        append(&log, 1, 0, 6).await,
        Err(StorageError::OutOfOrderSequence(_))
    ));
    assert!(matches!(
        append(&log, 1, 1, 1).await,
        Err(StorageError::OutOfOrderSequence(_))
    ));
    assert_eq!(append(&log, 1, 1, 0).await.unwrap(), (5, 5));
    assert!(matches!(
        append(&log, 1, 0, 5).await,
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert_eq!(log.log_end_offset(), 6);
}

#[tokio::test]
async fn producer_state_is_rebuilt_from_the_log_after_a_crash_and_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        for sequence in (0..7).map(|i| i * 2) {
            append(&log, 2, 0, sequence).await.unwrap();
        }
        // Dropped without flush_all: as after kill -9 (the appends were fsynced).
    }
    {
        let (store, log) = open(dir.path(), LogConfig::default()).await;
        // The last five batches are known again; the one before is not.
        assert_eq!(append(&log, 2, 0, 12).await.unwrap(), (12, 13));
        assert_eq!(append(&log, 2, 0, 4).await.unwrap(), (4, 5));
        assert!(matches!(
            append(&log, 2, 0, 2).await,
            Err(StorageError::OutOfOrderSequence(_))
        ));
        assert_eq!(append(&log, 1, 0, 14).await.unwrap(), (14, 14));
        store.flush_all().await.unwrap();
    }
    // After a clean stop, with segments rolled on every batch.
    let config = LogConfig {
        segment_bytes: 100,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    assert_eq!(append(&log, 1, 0, 14).await.unwrap(), (14, 14));
    assert_eq!(append(&log, 1, 0, 15).await.unwrap(), (15, 15));
    assert_eq!(append(&log, 1, 0, 15).await.unwrap(), (15, 15));
    assert_eq!(log.log_end_offset(), 16);
}

#[tokio::test]
async fn an_idle_producer_expires() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        producer_id_expiration_ms: 1,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    append(&log, 1, 0, 0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // Forgotten: the retry is written again, and any sequence starts it.
    assert_eq!(append(&log, 1, 0, 0).await.unwrap(), (1, 1));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(append(&log, 1, 0, 9).await.unwrap(), (2, 2));
}

#[tokio::test]
async fn a_producer_whose_batches_were_deleted_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(append(&log, 2, 0, 0).await.unwrap(), (0, 1));
    assert_eq!(append(&log, 1, 0, 2).await.unwrap(), (2, 2));
    assert_eq!(log.delete_records_before(3).await.unwrap(), 3);
    // As after a restart, which rebuilds from what is left: unknown, so
    // the retry is written again.
    assert_eq!(append(&log, 1, 0, 2).await.unwrap(), (3, 3));
    assert_eq!(append(&log, 1, 0, 2).await.unwrap(), (3, 3));
}

/// The producer snapshots in the partition directory, by offset.
fn snapshots(dir: &Path) -> Vec<i64> {
    let mut found: Vec<i64> = std::fs::read_dir(dir.join("payments-0"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".snapshot")?.parse().ok()
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn state_is_rebuilt_from_a_snapshot_and_the_batches_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut sequence = 0;
    {
        // Snapshots every segment.bytes, here the smallest interval (1 MiB).
        let config = LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        };
        let (_store, log) = open(dir.path(), config).await;
        while log.size_bytes() < 1_200_000 {
            let batch = idempotent_batch(20, PRODUCER, 0, sequence, now_ms());
            log.append(batch, Durability::Written).await.unwrap();
            sequence += 20;
        }
        let written = common_wait(|| !snapshots(dir.path()).is_empty()).await;
        assert!(written, "no producer snapshot written");
        // Batches after the snapshot, the last of them to be retried.
        for _ in 0..3 {
            append(&log, 20, 0, sequence).await.unwrap();
            sequence += 20;
        }
    }
    let snapshot = snapshots(dir.path())[0];
    let end = i64::from(sequence);
    assert!(snapshot < end - 60, "snapshot at {snapshot}, log end {end}");
    // A snapshot beyond the log end (a crash cut off its batches) is not
    // used, and removed.
    std::fs::write(
        dir.path()
            .join(format!("payments-0/{:020}.snapshot", end + 100)),
        b"from a longer log",
    )
    .unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(
        append(&log, 20, 0, sequence - 20).await.unwrap(),
        (end - 20, end - 1)
    );
    assert_eq!(
        append(&log, 20, 0, sequence - 60).await.unwrap(),
        (end - 60, end - 41)
    );
    assert_eq!(append(&log, 1, 0, sequence).await.unwrap(), (end, end));
    assert_eq!(snapshots(dir.path()), vec![snapshot]);
}

#[tokio::test]
async fn a_damaged_snapshot_is_passed_over_for_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        append(&log, 2, 0, 0).await.unwrap();
        append(&log, 2, 0, 2).await.unwrap();
    }
    std::fs::write(
        dir.path().join(format!("payments-0/{:020}.snapshot", 2)),
        b"damaged",
    )
    .unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(append(&log, 2, 0, 0).await.unwrap(), (0, 1));
    assert_eq!(append(&log, 2, 0, 2).await.unwrap(), (2, 3));
}

/// Polls `done` for up to ten seconds.
async fn common_wait(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn the_snapshot_is_what_the_rebuild_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        append(&log, 2, 0, 0).await.unwrap();
    }
    // A snapshot at the log end that knows a producer the log never saw:
    // only a rebuild that reads it answers that producer's batch as a retry.
    let mut states = ProducerStates::new(86_400_000);
    states.replay(&HeaderInfo {
        base_offset: 0,
        size: 70,
        last_offset: 0,
        max_timestamp: now_ms(),
        partition_leader_epoch: 0,
        magic: 2,
        log_append_time: false,
        producer_id: 99,
        producer_epoch: 0,
        base_sequence: 0,
        is_transactional: false,
        is_control: false,
    });
    std::fs::write(
        dir.path().join(format!("payments-0/{:020}.snapshot", 2)),
        states.encode_snapshot().unwrap(),
    )
    .unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    let batch = fjord_testkit::batches::idempotent_batch(1, 99, 0, 0, now_ms());
    let outcome = log.append(batch, Durability::Written).await.unwrap();
    assert_eq!((outcome.base_offset, outcome.last_offset), (0, 0));
    assert_eq!(log.log_end_offset(), 2);
    // The batches after the snapshot are replayed too: none here, so
    // PRODUCER's retry is not known and is written (the snapshot was made
    // by hand without it).
    assert_eq!(append(&log, 2, 0, 0).await.unwrap(), (2, 3));
}
