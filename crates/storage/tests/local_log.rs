//! The local engine through the `LogStore` / `PartitionLog` traits.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use fjord_storage::batch::{batches, BatchView};
use fjord_storage::engine::PartitionEngine;
use fjord_storage::local::LocalLogStore;
use fjord_storage::TopicIdPartition;
use fjord_storage::{
    Durability, LogConfig, LogOffsets, LogStore, PartitionLog, StorageError, TimestampType,
};
use fjord_testkit::batches::{batch, batch_with, ALL_COMPRESSIONS};
use kafka_protocol::records::Compression;

/// The id the metadata would give this file's topic.
const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x51_7e57);

const TOPIC: &str = "orders-eu-west";

async fn open(dir: &Path, config: LogConfig) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, TOPIC, 3), config)
        .await
        .unwrap();
    (store, log)
}

/// The batch as stored: only base offset and leader epoch (bytes 0..16) differ.
fn assert_same_batch_except_offset(sent: &[u8], stored: &[u8]) {
    assert_eq!(sent.len(), stored.len());
    assert_eq!(sent[16..], stored[16..]);
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(format!("{TOPIC}-3")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn append_and_read_round_trip_with_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    let mut sent = Vec::new();
    for (i, compression) in ALL_COMPRESSIONS.into_iter().enumerate() {
        let bytes = batch(4, compression);
        let outcome = log
            .append(bytes.clone(), Durability::Written)
            .await
            .unwrap();
        assert_eq!(outcome.base_offset, i as i64 * 4);
        assert_eq!(outcome.last_offset, i as i64 * 4 + 3);
        assert_eq!(outcome.log_append_time, -1);
        sent.push(bytes);
    }
    assert_eq!(log.high_watermark(), 20);
    let read = log.read(0, 1 << 20, false).await.unwrap();
    // One replica and no transactions: the three ends coincide.
    let expected = LogOffsets {
        log_start_offset: 0,
        log_end_offset: 20,
        high_watermark: 20,
        last_stable_offset: 20,
    };
    assert_eq!(read.offsets, expected);
    assert_eq!(log.offsets(), expected);
    let stored: Vec<BatchView> = batches(&read.records).collect::<Result<_, _>>().unwrap();
    assert_eq!(stored.len(), sent.len());
    for (i, (sent, stored)) in sent.iter().zip(&stored).enumerate() {
        assert_same_batch_except_offset(sent, stored.as_bytes());
        assert_eq!(stored.base_offset(), i as i64 * 4);
        assert!(stored.crc_is_valid());
    }
    // Reading from the middle of a batch returns that whole batch first.
    let read = log.read(6, 1 << 20, false).await.unwrap();
    assert_eq!(BatchView::parse(&read.records).unwrap().base_offset(), 4);
    // At the high watermark: empty; beyond it: out of range.
    assert!(log
        .read(20, 1 << 20, false)
        .await
        .unwrap()
        .records
        .is_empty());
    assert!(matches!(
        log.read(21, 1 << 20, false).await,
        Err(StorageError::OffsetOutOfRange {
            offset: 21,
            log_start: 0,
            end: 20
        })
    ));
}

#[tokio::test]
async fn invalid_batch_in_a_set_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    let mut buf = batch(2, Compression::None).to_vec();
    let mut corrupt = batch(2, Compression::None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    buf.extend_from_slice(&corrupt);
    assert!(matches!(
        log.append(Bytes::from(buf), Durability::Written).await,
        Err(StorageError::CorruptBatch(_))
    ));
    assert_eq!(log.high_watermark(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[tokio::test]
async fn rolls_by_size_and_reads_across_segments_with_max_bytes_and_min_one() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::None);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 3,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    for _ in 0..10 {
        log.append(one.clone(), Durability::Written).await.unwrap();
    }
    // 3 batches per segment: 4 segments, named by base offset.
    let names = segment_files(dir.path());
    assert_eq!(names.len(), 4);
    assert_eq!(names[1], "00000000000000000006.log");
    assert_eq!(log.size_bytes(), one.len() as u64 * 10);

    // Everything, across all segments, in one read.
    let all = log.read(0, 1 << 20, false).await.unwrap();
    assert_eq!(all.records.len(), one.len() * 10);
    let bases: Vec<i64> = batches(&all.records)
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(bases, (0..10).map(|i| i * 2).collect::<Vec<_>>());

    // max_bytes cuts at whole batches, crossing a segment boundary.
    let some = log.read(5, one.len() * 2 + 10, false).await.unwrap();
    let bases: Vec<i64> = batches(&some.records)
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(bases, vec![4, 6]);

    // First batch larger than max_bytes: only with min_one.
    assert!(log.read(13, 10, false).await.unwrap().records.is_empty());
    let forced = log.read(13, 10, true).await.unwrap();
    assert_eq!(forced.records.len(), one.len());
    assert_eq!(BatchView::parse(&forced.records).unwrap().base_offset(), 12);
}

#[tokio::test]
async fn log_append_time_is_stamped_with_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    let outcome = log
        .append(batch(3, Compression::Zstd), Durability::Written)
        .await
        .unwrap();
    assert!(outcome.log_append_time > 1_700_000_000_004);
    let read = log.read(0, 1 << 20, false).await.unwrap();
    let stored = BatchView::parse(&read.records).unwrap();
    assert!(stored.is_log_append_time());
    assert_eq!(stored.max_timestamp(), outcome.log_append_time);
    assert!(stored.crc_is_valid());
    // Every record of a LogAppendTime batch has the batch's timestamp.
    let found = log
        .offset_for_timestamp(outcome.log_append_time)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.offset, found.timestamp),
        (0, outcome.log_append_time)
    );
}

#[tokio::test]
async fn timestamp_lookups_find_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        segment_bytes: 600,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    // Batch i holds 5 records with timestamps 1000*i + 0..4.
    for i in 0..8 {
        let compression = ALL_COMPRESSIONS[i % ALL_COMPRESSIONS.len()];
        log.append(
            batch_with(5, compression, 1000 * i as i64, 20),
            Durability::Written,
        )
        .await
        .unwrap();
    }
    assert!(segment_files(dir.path()).len() > 1);
    let found = log.offset_for_timestamp(3002).await.unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (17, 3002));
    let found = log.offset_for_timestamp(3005).await.unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (20, 4000));
    let found = log.offset_for_timestamp(-5).await.unwrap().unwrap();
    assert_eq!(found.offset, 0);
    assert!(log.offset_for_timestamp(7005).await.unwrap().is_none());
    let max = log.max_timestamp().await.unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (39, 7004));
}

#[tokio::test]
async fn restart_preserves_data_and_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::Snappy);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    {
        let (store, log) = open(dir.path(), config.clone()).await;
        for _ in 0..5 {
            log.append(one.clone(), Durability::Synced).await.unwrap();
        }
        assert_eq!(log.delete_records_before(5).await.unwrap(), 5);
        store.flush_all().await.unwrap();
    }
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    // Found at start-up, it is nobody's until opened under its topic id.
    assert!(store.partition(TOPIC_ID, 3).is_none());
    let log = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, TOPIC, 3), config.clone())
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), 10);
    assert_eq!(log.log_start_offset(), 5);
    assert!(matches!(
        log.read(3, 1000, false).await,
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let read = log.read(5, 1 << 20, false).await.unwrap();
    let bases: Vec<i64> = batches(&read.records)
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(bases, vec![4, 6, 8]);
    let again = store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, TOPIC, 3), config)
        .await
        .unwrap();
    assert_eq!(again.log_start_offset(), 5);
    assert_eq!(
        again
            .append(one, Durability::Written)
            .await
            .unwrap()
            .base_offset,
        10
    );
}

#[tokio::test]
async fn torn_tail_is_cut_at_the_last_good_batch() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(3, Compression::Gzip);
    let log_path = dir
        .path()
        .join(format!("{TOPIC}-3"))
        .join("00000000000000000000.log");
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        for _ in 0..3 {
            log.append(one.clone(), Durability::Synced).await.unwrap();
        }
    }
    // Garbage after the last batch.
    let mut content = std::fs::read(&log_path).unwrap();
    content.extend_from_slice(&[0xAB; 100]);
    std::fs::write(&log_path, &content).unwrap();
    {
        let (_store, log) = open(dir.path(), LogConfig::default()).await;
        assert_eq!(log.high_watermark(), 9);
        assert_eq!(
            std::fs::metadata(&log_path).unwrap().len(),
            one.len() as u64 * 3
        );
    }
    // A batch cut in the middle.
    let content = std::fs::read(&log_path).unwrap();
    std::fs::write(&log_path, &content[..content.len() - 10]).unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(
        log.append(one, Durability::Synced)
            .await
            .unwrap()
            .base_offset,
        6
    );
    let read = log.read(0, 1 << 20, false).await.unwrap();
    assert_eq!(batches(&read.records).count(), 3);
}

#[tokio::test]
async fn corrupt_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::None);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 4,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    {
        let (_store, log) = open(dir.path(), config.clone()).await;
        for _ in 0..8 {
            log.append(one.clone(), Durability::Written).await.unwrap();
        }
    }
    let index = dir
        .path()
        .join(format!("{TOPIC}-3"))
        .join("00000000000000000000.index");
    std::fs::write(&index, [0xFF; 13]).unwrap();
    let (_store, log) = open(dir.path(), config).await;
    let read = log.read(3, one.len(), false).await.unwrap();
    assert_eq!(BatchView::parse(&read.records).unwrap().base_offset(), 2);
}

#[tokio::test]
async fn delete_records_moves_log_start_and_drops_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::Lz4);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    for _ in 0..6 {
        log.append(one.clone(), Durability::Written).await.unwrap();
    }
    assert_eq!(segment_files(dir.path()).len(), 3);
    assert_eq!(log.delete_records_before(9).await.unwrap(), 9);
    assert_eq!(segment_files(dir.path()), vec!["00000000000000000008.log"]);
    assert_eq!(log.log_start_offset(), 9);
    // Lower requests change nothing; beyond the high watermark is refused.
    assert_eq!(log.delete_records_before(2).await.unwrap(), 9);
    assert!(matches!(
        log.delete_records_before(13).await,
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(8, 1000, false).await,
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        log.read(9, 1 << 20, false).await.unwrap().records.len(),
        one.len() * 2
    );
}

#[tokio::test]
async fn retention_by_bytes_deletes_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::None);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        retention_bytes: one.len() as i64 * 3,
        retention_ms: -1,
        ..LogConfig::default()
    };
    let (store, log) = open(dir.path(), config).await;
    for _ in 0..7 {
        log.append(one.clone(), Durability::Written).await.unwrap();
    }
    assert_eq!(segment_files(dir.path()).len(), 4);
    store.run_housekeeping().await.unwrap();
    // 7 batches, keep >= 3: drop the first two segments (4 batches).
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(log.size_bytes(), one.len() as u64 * 3);
    assert_eq!(log.high_watermark(), 14);
}

#[tokio::test]
async fn retention_by_time_deletes_expired_segments_including_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = batch_with(2, Compression::None, 1_000_000, 8); // 1970: long expired
    let config = LogConfig {
        segment_bytes: old.len() as u64 * 2,
        retention_ms: 60_000,
        ..LogConfig::default()
    };
    let (store, log) = open(dir.path(), config).await;
    for _ in 0..5 {
        log.append(old.clone(), Durability::Written).await.unwrap();
    }
    store.run_housekeeping().await.unwrap();
    assert_eq!(segment_files(dir.path()), vec!["00000000000000000010.log"]);
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.high_watermark(), 10);
    assert_eq!(log.size_bytes(), 0);
    // Fresh data is kept.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fresh = batch_with(1, Compression::None, now, 8);
    log.append(fresh.clone(), Durability::Written)
        .await
        .unwrap();
    store.run_housekeeping().await.unwrap();
    assert_eq!(
        log.read(10, 1 << 20, false).await.unwrap().records.len(),
        fresh.len()
    );
}

#[tokio::test]
async fn segment_ms_rolls_in_housekeeping() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 0,
        retention_ms: -1,
        ..LogConfig::default()
    };
    let (store, log) = open(dir.path(), config).await;
    log.append(batch(1, Compression::None), Durability::Written)
        .await
        .unwrap();
    store.run_housekeeping().await.unwrap();
    assert_eq!(segment_files(dir.path()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_synced_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(
            &TopicIdPartition::new(TOPIC_ID, TOPIC, 3),
            LogConfig::default(),
        )
        .await
        .unwrap();
    let local = store.local_partition(TOPIC_ID, 3).unwrap();
    let appends = 200;
    let tasks: Vec<_> = (0..appends)
        .map(|_| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                log.append(batch(1, Compression::None), Durability::Synced)
                    .await
            })
        })
        .collect();
    let mut offsets = Vec::new();
    for task in tasks {
        offsets.push(task.await.unwrap().unwrap().base_offset);
    }
    offsets.sort();
    assert_eq!(offsets, (0..appends as i64).collect::<Vec<_>>());
    let fsyncs = local.fsync_count();
    assert!(
        fsyncs >= 1 && fsyncs < appends,
        "{fsyncs} fsyncs for {appends} appends"
    );
}

#[tokio::test]
async fn watch_wakes_on_append_and_partitions_are_managed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = open(dir.path(), LogConfig::default()).await;
    let mut watcher = log.watch_high_watermark();
    log.append(batch(2, Compression::None), Durability::Written)
        .await
        .unwrap();
    watcher.changed().await.unwrap();
    assert_eq!(*watcher.borrow(), 2);
    // open_partition returns the loaded log.
    let same = store
        .open_partition(
            &TopicIdPartition::new(TOPIC_ID, TOPIC, 3),
            LogConfig::default(),
        )
        .await
        .unwrap();
    assert_eq!(same.high_watermark(), 2);
    assert!(store
        .open_partition(
            &TopicIdPartition::new(TOPIC_ID, "../escape", 0),
            LogConfig::default()
        )
        .await
        .is_err());
    store.delete_partition(TOPIC_ID, 3).await.unwrap();
    assert!(store.partition(TOPIC_ID, 3).is_none());
    assert!(!dir.path().join(format!("{TOPIC}-3")).exists());
    // A request still holding the deleted log is told the partition is
    // unknown (Kafka's answer), not that storage failed.
    let unknown = |err: StorageError| {
        assert!(
            matches!(&err, StorageError::UnknownPartition { topic, partition: 3 } if topic == TOPIC),
            "{err}"
        )
    };
    unknown(
        log.append(batch(1, Compression::None), Durability::Written)
            .await
            .unwrap_err(),
    );
    unknown(log.read(0, 1 << 20, false).await.unwrap_err());
    // Deleting again is a no-op, so an interrupted topic delete can be redone.
    store.delete_partition(TOPIC_ID, 3).await.unwrap();
    assert!(store.partition(TOPIC_ID, 3).is_none());
}

#[tokio::test]
async fn timestamp_lookup_does_not_expand_a_decompression_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = open(dir.path(), LogConfig::default()).await;
    // Two records of 40 MiB of 'v' each: ~80 KiB of gzip, 80 MiB expanded,
    // beyond the 64 MiB decompression cap.
    let bomb = batch_with(2, Compression::Gzip, 5000, 40 << 20);
    assert!(bomb.len() < 1 << 20, "the bomb should be small on the wire");
    log.append(bomb, Durability::Written).await.unwrap();
    // The exact record would be offset 1 (timestamp 5001); capped, the
    // lookup answers the batch's first offset, which skips nothing.
    let found = log.offset_for_timestamp(5001).await.unwrap().unwrap();
    assert_eq!(found.offset, 0);
    assert_eq!(found.timestamp, 5001);
}

#[tokio::test]
async fn housekeeping_loads_partitions_found_at_start_up_and_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    let old = batch_with(2, Compression::None, 1_000_000, 8); // 1970: long expired
    let config = LogConfig {
        segment_bytes: old.len() as u64,
        retention_ms: 60_000,
        ..LogConfig::default()
    };
    {
        let (store, log) = open(dir.path(), LogConfig::default()).await;
        for _ in 0..3 {
            log.append(old.clone(), Durability::Written).await.unwrap();
        }
        store.flush_all().await.unwrap();
    }
    // Reopened, the partition is not loaded until used; housekeeping loads
    // it (with the topic's config) and deletes what expired.
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    store
        .open_partition(&TopicIdPartition::new(TOPIC_ID, TOPIC, 3), config)
        .await
        .unwrap();
    let local = store.local_partition(TOPIC_ID, 3).unwrap();
    store.run_housekeeping().await.unwrap();
    assert_eq!(segment_files(dir.path()), vec!["00000000000000000006.log"]);
    let offsets = local.offsets();
    assert_eq!(offsets.log_start_offset, 6);
    assert_eq!(offsets.high_watermark, 6);
}
