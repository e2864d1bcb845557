//! Transactions through a real local log: markers appended as control
//! batches and kept through a crash, and the producer epoch they carry
//! fencing older batches and markers.

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fjord_storage::batch::{batches, BatchView};
use fjord_storage::local::LocalLogStore;
use fjord_storage::log::marker::read_marker;
use fjord_storage::{
    Durability, LogConfig, LogStore, PartitionLog, StorageError, TopicIdPartition, TxnMarker,
};
use fjord_testkit::batches::{idempotent_batch, now_ms};

const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x7a_0707);
const PRODUCER: i64 = 4242;

async fn open(dir: &Path, config: LogConfig) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, "ledger", 0), config)
        .await
        .unwrap();
    (store, log)
}

/// An idempotent batch with the transactional attribute set (as a
/// transactional producer sends it).
fn transactional_batch(count: usize, producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
    let mut batch =
        BytesMut::from(&idempotent_batch(count, producer_id, epoch, sequence, now_ms())[..]);
    let attributes = i16::from_be_bytes([batch[21], batch[22]]) | 0x10;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

async fn append_txn(
    log: &Arc<dyn PartitionLog>,
    count: usize,
    producer_id: i64,
    epoch: i16,
    sequence: i32,
) -> Result<(i64, i64), StorageError> {
    let batch = transactional_batch(count, producer_id, epoch, sequence);
    log.append(batch, Durability::Synced)
        .await
        .map(|outcome| (outcome.base_offset, outcome.last_offset))
}

fn marker(producer_id: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> TxnMarker {
    TxnMarker {
        producer_id,
        producer_epoch: epoch,
        commit,
        coordinator_epoch,
    }
}

/// Every stored batch: (base offset, the marker it holds if it is one).
async fn stored(log: &Arc<dyn PartitionLog>) -> Vec<(i64, Option<TxnMarker>)> {
    let read = log.read(0, 1 << 20, true).await.unwrap();
    batches(&read.records)
        .map(|batch| {
            let batch: BatchView<'_> = batch.unwrap();
            assert!(batch.crc_is_valid());
            (batch.base_offset(), read_marker(&batch))
        })
        .collect()
}

#[tokio::test]
async fn a_marker_is_a_control_batch_at_the_log_end_kept_through_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        assert_eq!(append_txn(&log, 3, PRODUCER, 0, 0).await.unwrap(), (0, 2));
        let commit = marker(PRODUCER, 0, true, 5);
        assert_eq!(log.append_marker(commit).await.unwrap(), 3);
        assert_eq!(log.log_end_offset(), 4);
        let read = log.read(3, 1 << 20, true).await.unwrap();
        let batch = BatchView::parse(&read.records).unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (PRODUCER, 0));
        assert_eq!((batch.record_count(), batch.last_offset()), (1, 3));
        // Dropped without flush_all: as after kill -9; the marker was fsynced.
    }
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(
        stored(&log).await,
        vec![(0, None), (3, Some(marker(PRODUCER, 0, true, 5)))]
    );
    // The producer goes on after its committed transaction.
    assert_eq!(append_txn(&log, 1, PRODUCER, 0, 3).await.unwrap(), (4, 4));
    let abort = marker(PRODUCER, 0, false, 5);
    assert_eq!(log.append_marker(abort).await.unwrap(), 5);
    assert_eq!(stored(&log).await[3], (5, Some(abort)));
}

#[tokio::test]
async fn a_marker_epoch_fences_older_batches_and_markers_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        append_txn(&log, 2, PRODUCER, 3, 0).await.unwrap();
        // The coordinator aborted with a bumped epoch (a fenced producer,
        // or transaction version 2).
        log.append_marker(marker(PRODUCER, 4, false, 1))
            .await
            .unwrap();
        assert!(matches!(
            append_txn(&log, 1, PRODUCER, 3, 2).await,
            Err(StorageError::InvalidProducerEpoch(_))
        ));
        assert!(matches!(
            log.append_marker(marker(PRODUCER, 3, true, 1)).await,
            Err(StorageError::InvalidProducerEpoch(_))
        ));
        // An older coordinator is fenced too.
        assert!(matches!(
            log.append_marker(marker(PRODUCER, 4, true, 0)).await,
            Err(StorageError::TransactionCoordinatorFenced(_))
        ));
        assert_eq!(log.log_end_offset(), 3);
    }
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    // Rebuilt from the log: the marker's epoch is the producer's.
    assert!(matches!(
        append_txn(&log, 1, PRODUCER, 3, 2).await,
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert!(matches!(
        log.append_marker(marker(PRODUCER, 3, false, 1)).await,
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    // The new epoch starts at sequence 0.
    assert!(matches!(
        append_txn(&log, 1, PRODUCER, 4, 2).await,
        Err(StorageError::OutOfOrderSequence(_))
    ));
    assert_eq!(append_txn(&log, 1, PRODUCER, 4, 0).await.unwrap(), (3, 3));
    assert_eq!(
        log.append_marker(marker(PRODUCER, 4, true, 1))
            .await
            .unwrap(),
        4
    );
    // A marker for a producer this partition never saw is written too.
    assert_eq!(log.append_marker(marker(77, 0, false, 1)).await.unwrap(), 5);
}

#[tokio::test]
async fn clients_cannot_write_control_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    log.append_marker(marker(PRODUCER, 0, true, 0))
        .await
        .unwrap();
    let forged = log.read(0, 1 << 20, true).await.unwrap().records;
    let mut forged = BytesMut::from(&forged[..]);
    forged[..8].copy_from_slice(&0i64.to_be_bytes());
    assert!(matches!(
        log.append(forged.freeze(), Durability::Synced).await,
        Err(StorageError::InvalidRecord(_))
    ));
    assert_eq!(log.log_end_offset(), 1);
}

/// (producer id, first offset) of the aborted transactions a
/// READ_COMMITTED read from `offset` gets, and the offsets of the batches.
async fn read_committed(log: &Arc<dyn PartitionLog>, offset: i64) -> (Vec<(i64, i64)>, Vec<i64>) {
    let read = log.read_committed(offset, 1 << 20, true).await.unwrap();
    // The zero-copy fetch's read leaves the records in the files, and
    // must return the same batches, positions and aborted transactions.
    let in_files = log.read_records(offset, 1 << 20, true, true).await.unwrap();
    assert_eq!(in_files.records.to_bytes().unwrap(), read.records);
    assert_eq!(in_files.offsets, read.offsets);
    assert_eq!(in_files.aborted_transactions, read.aborted_transactions);
    let aborted = read
        .aborted_transactions
        .iter()
        .map(|a| (a.producer_id, a.first_offset))
        .collect();
    let bases = batches(&read.records)
        .map(|b| b.unwrap().base_offset())
        .collect();
    (aborted, bases)
}

async fn append_plain(log: &Arc<dyn PartitionLog>) -> i64 {
    let batch = fjord_testkit::batches::batch(1, fjord_testkit::batches::Compression::None);
    log.append(batch, Durability::Written)
        .await
        .unwrap()
        .base_offset
}

#[tokio::test]
async fn the_last_stable_offset_stops_at_the_oldest_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(append_plain(&log).await, 0);
    assert_eq!(log.offsets().last_stable_offset, 1);
    append_txn(&log, 2, 7, 0, 0).await.unwrap(); // 1..=2, opens 7 at 1
    append_plain(&log).await; // 3
    append_txn(&log, 1, 8, 0, 0).await.unwrap(); // 4, opens 8 at 4
    let offsets = log.offsets();
    assert_eq!((offsets.last_stable_offset, offsets.high_watermark), (1, 5));
    // READ_COMMITTED readers see only below it.
    assert_eq!(read_committed(&log, 0).await, (vec![], vec![0]));
    assert_eq!(read_committed(&log, 1).await, (vec![], vec![]));
    // Producer 7 aborts: stable up to producer 8's transaction.
    assert_eq!(log.append_marker(marker(7, 0, false, 0)).await.unwrap(), 5);
    assert_eq!(log.offsets().last_stable_offset, 4);
    assert_eq!(read_committed(&log, 0).await, (vec![(7, 1)], vec![0, 1, 3]));
    // Producer 8 commits: stable to the end.
    assert_eq!(log.append_marker(marker(8, 0, true, 0)).await.unwrap(), 6);
    assert_eq!(log.offsets().last_stable_offset, 7);
    assert_eq!(
        read_committed(&log, 0).await,
        (vec![(7, 1)], vec![0, 1, 3, 4, 5, 6])
    );
    // From past the abort marker, the abort is no concern of the reader.
    assert_eq!(read_committed(&log, 6).await, (vec![], vec![6]));
    // Everything is readable uncommitted, with the same positions.
    let read = log.read(0, 1 << 20, true).await.unwrap();
    assert!(read.aborted_transactions.is_empty());
    assert_eq!(read.offsets.last_stable_offset, 7);
}

#[tokio::test]
async fn open_transactions_and_aborts_are_known_again_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    {
        let (_store, log) = open(dir.path(), config.clone()).await;
        append_txn(&log, 2, 7, 0, 0).await.unwrap(); // 0..=1
        append_txn(&log, 2, 8, 0, 0).await.unwrap(); // 2..=3
        log.append_marker(marker(7, 0, false, 0)).await.unwrap(); // 4
        append_txn(&log, 1, 9, 0, 0).await.unwrap(); // 5
        log.append_marker(marker(8, 0, false, 0)).await.unwrap(); // 6
        assert_eq!(log.offsets().last_stable_offset, 5);
    }
    // Reopened without a clean shutdown: the first read knows producer 9's
    // transaction is open, and both aborts.
    let (store, log) = open(dir.path(), config.clone()).await;
    assert_eq!(log.stable_offsets().await.unwrap().last_stable_offset, 5);
    assert_eq!(
        read_committed(&log, 0).await,
        (vec![(7, 0), (8, 2)], vec![0, 2, 4])
    );
    store.flush_all().await.unwrap();
    drop((store, log));
    // Every index gone or torn: rebuilt from the log at the next start.
    let partition = dir.path().join("ledger-0");
    let mut indexes = 0;
    for entry in std::fs::read_dir(&partition).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txnindex") {
            indexes += 1;
            if indexes % 2 == 0 {
                std::fs::remove_file(&path).unwrap();
            } else {
                std::fs::write(&path, b"torn").unwrap();
            }
        }
    }
    assert!(indexes >= 2, "the log spans several segments");
    let (_store, log) = open(dir.path(), config).await;
    assert_eq!(
        read_committed(&log, 0).await,
        (vec![(7, 0), (8, 2)], vec![0, 2, 4])
    );
    assert_eq!(read_committed(&log, 3).await.0, vec![(7, 0), (8, 2)]);
    assert_eq!(read_committed(&log, 5).await, (vec![], vec![]));
    log.append_marker(marker(9, 0, true, 0)).await.unwrap();
    // Producer 8's abort marker is in the range read, so its abort is listed.
    assert_eq!(read_committed(&log, 5).await, (vec![(8, 2)], vec![5, 6, 7]));
    assert_eq!(read_committed(&log, 7).await, (vec![], vec![7]));
}

#[tokio::test]
async fn deleting_the_start_of_an_open_transaction_leaves_no_stuck_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    // One batch per segment.
    let config = LogConfig {
        segment_bytes: 100,
        ..LogConfig::default()
    };
    {
        let (_store, log) = open(dir.path(), config.clone()).await;
        append_plain(&log).await; // 0
        append_txn(&log, 1, 7, 0, 0).await.unwrap(); // 1, opens 7
        append_plain(&log).await; // 2
        append_txn(&log, 1, 7, 0, 1).await.unwrap(); // 3
        append_plain(&log).await; // 4
        assert_eq!(log.offsets().last_stable_offset, 1);
        // DeleteRecords past the transaction's first batch: the last stable
        // offset is bounded by the log start, as in Kafka, and the
        // transaction stays open.
        assert_eq!(log.delete_records_before(2).await.unwrap(), 2);
        let offsets = log.offsets();
        assert_eq!(
            (offsets.log_start_offset, offsets.last_stable_offset),
            (2, 2)
        );
        assert_eq!(read_committed(&log, 2).await, (vec![], vec![]));
        assert_eq!(log.delete_records_before(3).await.unwrap(), 3);
        assert_eq!(log.offsets().last_stable_offset, 3);
        assert_eq!(read_committed(&log, 3).await, (vec![], vec![]));
        // The deleted segments' files are gone, their txnindex included.
        let deleted = ["00000000000000000000.", "00000000000000000001."];
        let left = std::fs::read_dir(dir.path().join("ledger-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|name| deleted.iter().any(|d| name.starts_with(d)))
            .count();
        assert_eq!(left, 0);
    }
    // After a crash the open transaction is rebuilt from what is left (its
    // batch at 3). (Had every batch of it been deleted, nothing would be
    // left for a READ_COMMITTED reader to wait for: the rebuilt state
    // would not hold it open, and its marker would list it from itself.)
    let (_store, log) = open(dir.path(), config).await;
    let offsets = log.stable_offsets().await.unwrap();
    assert_eq!(
        (offsets.log_start_offset, offsets.last_stable_offset),
        (3, 3)
    );
    assert_eq!(log.append_marker(marker(7, 0, false, 0)).await.unwrap(), 5);
    assert_eq!(log.offsets().last_stable_offset, 6);
    assert_eq!(read_committed(&log, 3).await, (vec![(7, 3)], vec![3, 4, 5]));
}
