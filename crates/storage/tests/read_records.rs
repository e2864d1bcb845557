//! Reads that leave the records in the segment files (`read_records`, the
//! zero-copy fetch's source) return exactly the batches the byte reads
//! return, and a range handed out stays whole batches when retention
//! deletes its segment.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use fjord_storage::batch::batches;
use fjord_storage::local::LocalLogStore;
use fjord_storage::{
    Durability, LogConfig, LogStore, PartitionLog, Records, StorageError, TopicIdPartition,
};
use fjord_testkit::batches::{batch, batch_with, SOME_TIME_MS};
use kafka_protocol::records::Compression;

const TOPIC: &str = "ranges";

async fn open(dir: &Path, config: LogConfig) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(
            &TopicIdPartition::new(uuid::Uuid::from_u128(0x7a9), TOPIC, 0),
            config,
        )
        .await
        .unwrap();
    (store, log)
}

/// Batches of different sizes (1..=7 records of 10..=300 bytes) over
/// segments of about three batches each.
async fn varied_log(dir: &Path) -> (LocalLogStore, Arc<dyn PartitionLog>, Vec<usize>) {
    let config = LogConfig {
        segment_bytes: 1500,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let (store, log) = open(dir, config).await;
    let mut sizes = Vec::new();
    for i in 0..24usize {
        let one = batch_with(
            1 + i % 7,
            Compression::None,
            SOME_TIME_MS,
            10 + (i * 37) % 290,
        );
        sizes.push(one.len());
        log.append(one, Durability::Written).await.unwrap();
    }
    (store, log, sizes)
}

fn file_bytes(records: &Records) -> Bytes {
    assert!(
        matches!(records, Records::Files(_)),
        "the local engine leaves records in files"
    );
    records.to_bytes().unwrap()
}

#[tokio::test]
async fn ranges_hold_the_same_batches_as_byte_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log, sizes) = varied_log(dir.path()).await;
    let end = log.log_end_offset();
    let segments = std::fs::read_dir(dir.path().join(format!("{TOPIC}-0")))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert!(segments >= 5, "{segments} segments");
    let largest = *sizes.iter().max().unwrap();
    let limits = [
        0,
        1,
        60,
        61,
        sizes[0] - 1,
        sizes[0],
        sizes[0] + 1,
        largest + 3,
        1499,
        1500,
        4000,
        1 << 20,
    ];
    let mut compared = 0;
    for offset in 0..=end {
        for max_bytes in limits {
            for min_one in [false, true] {
                let bytes = log.read(offset, max_bytes, min_one).await.unwrap();
                let files = log
                    .read_records(offset, max_bytes, min_one, false)
                    .await
                    .unwrap();
                let context = format!("offset {offset} max_bytes {max_bytes} min_one {min_one}");
                assert_eq!(file_bytes(&files.records), bytes.records, "{context}");
                assert_eq!(files.offsets, bytes.offsets, "{context}");
                let last = batches(&bytes.records)
                    .last()
                    .map(|b| b.unwrap().last_offset());
                assert_eq!(
                    files.end_offset,
                    last.map_or(offset, |l| l + 1),
                    "{context}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 1000);
    // Out of range is the same error either way.
    for offset in [-1, end + 1] {
        assert!(matches!(
            log.read_records(offset, 100, true, false).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }
}

#[tokio::test]
async fn read_committed_ranges_match_byte_reads_without_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log, _) = varied_log(dir.path()).await;
    for offset in [0, 3, 17] {
        for max_bytes in [0, 100, 2000, 1 << 20] {
            let bytes = log.read_committed(offset, max_bytes, true).await.unwrap();
            let files = log
                .read_records(offset, max_bytes, true, true)
                .await
                .unwrap();
            assert_eq!(file_bytes(&files.records), bytes.records);
            assert_eq!(files.offsets, bytes.offsets);
            assert_eq!(files.aborted_transactions, bytes.aborted_transactions);
        }
    }
}

#[tokio::test]
async fn a_range_outlives_the_deletion_of_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let one = batch(4, Compression::None);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        ..LogConfig::default()
    };
    let (_store, log) = open(dir.path(), config).await;
    for _ in 0..6 {
        log.append(one.clone(), Durability::Written).await.unwrap();
    }
    let before = log.read(0, 1 << 20, false).await.unwrap().records;
    let read = log.read_records(0, 1 << 20, false, false).await.unwrap();
    let Records::Files(ranges) = &read.records else {
        panic!("records in memory")
    };
    assert_eq!(ranges.len(), 3, "one range per segment");
    // DeleteRecords removes the first two segments' files...
    assert_eq!(log.delete_records_before(16).await.unwrap(), 16);
    let left = std::fs::read_dir(dir.path().join(format!("{TOPIC}-0")))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert_eq!(left, 1);
    // ...and the ranges taken before still read whole batches, every byte.
    assert_eq!(read.records.to_bytes().unwrap(), before);
    let mut offsets = Vec::new();
    for batch in batches(&before) {
        offsets.push(batch.unwrap().base_offset());
    }
    assert_eq!(offsets, vec![0, 4, 8, 12, 16, 20]);
    // A new read starts at the new log start.
    assert!(matches!(
        log.read_records(0, 1 << 20, false, false).await,
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

/// Damage in a segment ends a range read where it ends a byte read: after
/// the intact batches before it, or (met first) with the same error.
#[tokio::test]
async fn damage_ends_range_reads_as_it_ends_byte_reads() {
    use std::os::unix::fs::FileExt;
    let one = batch(3, Compression::None);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 4,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    // The third batch's magic byte, its base offset, its length.
    let third = one.len() as u64 * 2;
    for (at, byte) in [(third + 16, 1u8), (third + 7, 0x55), (third + 8, 0x7f)] {
        let mut results = Vec::new();
        for by_ranges in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (_store, log) = open(dir.path(), config.clone()).await;
            for _ in 0..4 {
                log.append(one.clone(), Durability::Written).await.unwrap();
            }
            // Damaged under the open log, as a disk would.
            let path = dir
                .path()
                .join(format!("{TOPIC}-0/00000000000000000000.log"));
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.write_at(&[byte], at).unwrap();
            let mut reads = Vec::new();
            for offset in [0, 3, 6, 9] {
                let read = if by_ranges {
                    log.read_records(offset, 1 << 20, true, false)
                        .await
                        .map(|r| r.records.to_bytes().unwrap())
                } else {
                    log.read(offset, 1 << 20, true).await.map(|r| r.records)
                };
                reads.push(read.map_err(|e| std::mem::discriminant(&e)));
            }
            results.push(reads);
        }
        assert!(results[0][0]
            .as_ref()
            .is_ok_and(|b| b.len() == one.len() * 2));
        assert!(results[0][2].is_err());
        assert_eq!(results[0], results[1], "damage at byte {at}");
    }
}
