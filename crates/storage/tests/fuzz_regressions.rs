//! Inputs the fuzz targets (fuzz/) found, each pinned by the outcome it
//! must have.

use fjord_storage::local::LocalLogStore;
use fjord_storage::TopicIdPartition;
use fjord_storage::{Durability, LogConfig, LogStore};
use fjord_testkit::batches::batch;
use kafka_protocol::records::Compression;

/// The id the metadata would give this file's topic.
const TOPIC_ID: uuid::Uuid = uuid::Uuid::from_u128(0x51_7e57);

/// segment_recovery: a segment file named with a base offset near i64::MAX
/// made the next append's offset arithmetic overflow (a panic with overflow
/// checks, offsets wrapping negative without). The append must be refused
/// and the log left as it was.
#[tokio::test]
async fn append_that_would_pass_the_largest_offset_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let partition = dir.path().join("t-0");
    std::fs::create_dir(&partition).unwrap();
    let base = i64::MAX - 1;
    std::fs::write(partition.join(format!("{base:020}.log")), b"").unwrap();

    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(
            &TopicIdPartition::new(TOPIC_ID, "t", 0),
            LogConfig::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), base);
    let refused = log
        .append(batch(3, Compression::None), Durability::Synced)
        .await;
    assert!(
        refused.is_err(),
        "append past i64::MAX accepted: {refused:?}"
    );
    assert_eq!(log.high_watermark(), base);
    let read = log.read(base, 1 << 20, true).await.unwrap();
    assert!(read.records.is_empty());

    // One record still fits: offset i64::MAX - 1 is the last one assigned.
    let appended = log
        .append(batch(1, Compression::None), Durability::Synced)
        .await
        .unwrap();
    assert_eq!((appended.base_offset, appended.last_offset), (base, base));
    assert_eq!(log.high_watermark(), i64::MAX);
}
