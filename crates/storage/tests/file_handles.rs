//! Open files stay bounded however many partitions and segments exist.
//!
//! This file is its own test binary (own process) because it lowers the
//! process's open-file limit; it holds a single test for the same reason.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use fjord_storage::batch::batches;
use fjord_storage::local::{open_segment_files, LocalLogStore};
use fjord_storage::TopicIdPartition;
use fjord_storage::{Durability, LogConfig, LogStore, PartitionLog};
use fjord_testkit::batches::batch;
use kafka_protocol::records::Compression;

/// The id the metadata would give this file's topic.
const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x51_7e57);

/// Far below what 3 files per segment would need (100 partitions x 3 segments x 3 files).
const FILE_LIMIT: u64 = 64;
const PARTITIONS: i32 = 100;
const BATCHES_PER_PARTITION: usize = 3;

fn lower_open_file_limit(soft: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a stack value we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = soft.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every batch appended to partition `p`, read back in one read.
async fn read_all(log: &Arc<dyn PartitionLog>) -> Bytes {
    let read = log.read(0, 1 << 20, false).await.unwrap();
    assert_eq!(
        read.offsets.high_watermark,
        (BATCHES_PER_PARTITION * 2) as i64
    );
    read.records
}

fn stored_payloads(records: &[u8]) -> Vec<Vec<u8>> {
    // Bytes 16.. of a batch are as the producer sent them.
    batches(records)
        .map(|b| b.unwrap().as_bytes()[16..].to_vec())
        .collect()
}

async fn open_all(store: &LocalLogStore, config: &LogConfig) -> Vec<Arc<dyn PartitionLog>> {
    let mut logs = Vec::new();
    for p in 0..PARTITIONS {
        logs.push(
            store
                .open_partition(&TopicIdPartition::new(TOPIC_ID, "many", p), config.clone())
                .await
                .unwrap(),
        );
    }
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_partitions_and_segments_under_a_low_open_file_limit() {
    lower_open_file_limit(FILE_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let one = batch(2, Compression::None);
    // One batch per segment: every partition ends with 3 segments.
    let config = LogConfig {
        segment_bytes: one.len() as u64,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let sent = stored_payloads(&[one.clone(), one.clone(), one.clone()].concat());

    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let logs = open_all(&store, &config).await;
    for round in 0..BATCHES_PER_PARTITION {
        for log in &logs {
            // Half acks=all: fsyncs go through reopened files too.
            let durability = if round == 1 {
                Durability::Synced
            } else {
                Durability::Written
            };
            log.append(one.clone(), durability).await.unwrap();
        }
    }
    let segments = std::fs::read_dir(dir.path().join("many-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert_eq!(segments, BATCHES_PER_PARTITION);
    for log in &logs {
        assert_eq!(stored_payloads(&read_all(log).await), sent);
    }
    assert_bounded("after appends and reads");
    store.flush_all().await.unwrap();
    drop(logs);
    drop(store);

    // Restart: partitions are loaded on first use, through the same cache.
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let logs = open_all(&store, &config).await;
    for log in &logs {
        assert_eq!(stored_payloads(&read_all(log).await), sent);
    }
    // Timestamp lookups open segments through the cache as well.
    for log in logs.iter().take(50) {
        let found = log.offset_for_timestamp(0).await.unwrap().unwrap();
        assert_eq!(found.offset, 0);
    }
    assert_bounded("after restart and reads");
    let appended = logs[7]
        .append(one.clone(), Durability::Synced)
        .await
        .unwrap();
    assert_eq!(appended.base_offset, 6);
    check_dir_is_readable(dir.path());
}

fn assert_bounded(when: &str) {
    let cached = open_segment_files();
    let fds = open_fds();
    assert!(
        cached <= (FILE_LIMIT / 2) as usize,
        "{when}: {cached} segment files cached, more than half the limit"
    );
    assert!(
        fds < FILE_LIMIT as usize,
        "{when}: {fds} descriptors open, limit {FILE_LIMIT}"
    );
}

fn check_dir_is_readable(dir: &Path) {
    let partitions = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(partitions, PARTITIONS as usize);
}
