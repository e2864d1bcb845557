//! Partitions are keyed by topic id: a topic deleted and created again
//! under the same name never sees its predecessor's data, whatever a crash
//! left behind in the data dir.

use std::path::Path;

use fjord_storage::local::LocalLogStore;
use fjord_storage::{Durability, LogConfig, LogStore, TopicIdPartition};
use fjord_testkit::batches::batch;
use kafka_protocol::records::Compression;
use uuid::Uuid;

const TOPIC: &str = "reborn";

fn with_id(id: u128) -> TopicIdPartition {
    TopicIdPartition::new(Uuid::from_u128(id), TOPIC, 0)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TOPIC))
        .collect();
    names.sort();
    names
}

async fn write_three(store: &LocalLogStore, id: &TopicIdPartition) {
    let log = store
        .create_partition(id, LogConfig::default())
        .await
        .unwrap();
    log.append(batch(3, Compression::None), Durability::Synced)
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), 3);
}

/// Topic id 1's partition with three records, the store closed; returns
/// the path of its id file.
async fn old_topic_on_disk(dir: &Path) -> std::path::PathBuf {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    write_three(&store, &with_id(1)).await;
    store.flush_all().await.unwrap();
    dir.join(format!("{TOPIC}-0")).join("partition.metadata")
}

/// The state a crash between a topic's removal from the metadata and the
/// renaming of its directories leaves, then the name created again: the
/// old directory is found at start-up under the name the metadata now
/// gives another id.
#[tokio::test]
async fn a_directory_of_another_topic_id_is_moved_aside_not_served() {
    let dir = tempfile::tempdir().unwrap();
    old_topic_on_disk(dir.path()).await;
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(&with_id(2), LogConfig::default())
        .await
        .unwrap();
    assert_eq!(
        log.high_watermark(),
        0,
        "the old topic's records are not served"
    );
    let read = log.read(0, 1 << 20, true).await.unwrap();
    assert!(read.records.is_empty());
    let found = names(dir.path());
    assert_eq!(found.len(), 2, "{found:?}");
    let aside = found.iter().find(|n| n.ends_with("-stray")).unwrap();
    assert!(
        dir.path()
            .join(aside)
            .join("00000000000000000000.log")
            .metadata()
            .unwrap()
            .len()
            > 0,
        "the old data is kept aside for the operator"
    );
    // And the new id sticks: reopened under it, the partition is its own.
    log.append(batch(1, Compression::None), Durability::Synced)
        .await
        .unwrap();
    store.flush_all().await.unwrap();
    drop(store);
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(&with_id(2), LogConfig::default())
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), 1);
}

#[tokio::test]
async fn a_live_log_keeps_its_directory_until_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    write_three(&store, &with_id(1)).await;
    // The old topic's log is still live: the new id cannot take the place.
    assert!(store
        .create_partition(&with_id(2), LogConfig::default())
        .await
        .is_err());
    assert!(store
        .open_partition(&with_id(2), LogConfig::default())
        .await
        .is_err());
    assert_eq!(
        store
            .partition(Uuid::from_u128(1), 0)
            .unwrap()
            .high_watermark(),
        3
    );

    store.delete_partition(Uuid::from_u128(1), 0).await.unwrap();
    let log = store
        .create_partition(&with_id(2), LogConfig::default())
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), 0);
    assert!(store.partition(Uuid::from_u128(1), 0).is_none());
    // Deleting the old id again touches nothing of the new one.
    store.delete_partition(Uuid::from_u128(1), 0).await.unwrap();
    assert_eq!(names(dir.path()), vec![format!("{TOPIC}-0")]);
    assert!(store.partition(Uuid::from_u128(2), 0).is_some());
}

/// A directory written before topic ids were kept is adopted by the topic
/// the metadata names, and from then on holds that id.
#[tokio::test]
async fn a_directory_without_an_id_is_adopted_once() {
    let dir = tempfile::tempdir().unwrap();
    let id_file = old_topic_on_disk(dir.path()).await;
    let text = std::fs::read_to_string(&id_file).unwrap();
    assert_eq!(text, "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n");
    std::fs::remove_file(&id_file).unwrap();

    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(&with_id(7), LogConfig::default())
        .await
        .unwrap();
    assert_eq!(log.high_watermark(), 3);
    assert!(std::fs::read_to_string(&id_file)
        .unwrap()
        .contains("topic_id: AAAAAAAAAAAAAAAAAAAABw"));
}

#[tokio::test]
async fn a_damaged_id_file_takes_the_partition_offline() {
    let dir = tempfile::tempdir().unwrap();
    let id_file = old_topic_on_disk(dir.path()).await;
    std::fs::write(&id_file, b"version: 0\ntopic_id: not-an-id\n").unwrap();
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    let log = store
        .open_partition(&with_id(1), LogConfig::default())
        .await
        .unwrap();
    assert!(log.check_online().is_err());
    assert!(log.read(0, 1 << 20, true).await.is_err());
    // Nothing was moved or rewritten.
    assert_eq!(names(dir.path()), vec![format!("{TOPIC}-0")]);
}

#[tokio::test]
async fn the_same_name_under_two_ids_is_two_partitions_to_look_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalLogStore::open(dir.path().to_path_buf()).unwrap();
    write_three(&store, &with_id(5)).await;
    assert!(store.partition(Uuid::from_u128(99), 0).is_none());
    assert!(store.partition(Uuid::from_u128(5), 1).is_none());
}
