//! The metadata store's file: reopening, and refusing what would lose data.
use super::*;

#[tokio::test]
async fn topics_and_cluster_id_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileMetadataStore::open(dir.path(), None).unwrap();
    let cluster_id = store.cluster_id();
    assert_eq!(cluster_id.len(), 22);
    let topic = TopicMeta {
        name: "orders".into(),
        id: Uuid::new_v4(),
        partitions: 3,
        configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        version: 0,
    };
    let topic = store.create_topic(topic).await.unwrap();
    let gone = store.create_topic(new_topic("gone", 1)).await.unwrap();
    store.delete_topic("gone", gone.version).await.unwrap();
    drop(store);

    let reopened = FileMetadataStore::open(dir.path(), Some("ignored")).unwrap();
    assert_eq!(reopened.cluster_id(), cluster_id);
    assert_eq!(reopened.topics(), vec![topic.clone()]);
    assert_eq!(reopened.topic_by_id(topic.id), Some(topic));
    assert_eq!(reopened.topic_by_id(Uuid::new_v4()), None);
}
#[test]
fn missing_file_with_partition_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("orders-0")).unwrap();
    let err = FileMetadataStore::open(dir.path(), None).err().unwrap();
    let message = err.to_string();
    assert!(message.contains(METADATA_FILE), "{message}");
    assert!(message.contains("orders-0"), "{message}");
    assert!(!dir.path().join(METADATA_FILE).exists());
}

#[test]
fn missing_file_with_committed_offsets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = dir.path().join(crate::local_offsets::OFFSETS_DIR);
    std::fs::create_dir(&offsets).unwrap();
    // Empty files are what a broker that never stored a commit leaves.
    std::fs::write(offsets.join("00000000000000000000.log"), b"").unwrap();
    FileMetadataStore::open(dir.path(), None).unwrap();
    std::fs::remove_file(dir.path().join(METADATA_FILE)).unwrap();
    std::fs::write(offsets.join("00000000000000000000.log"), b"x").unwrap();
    assert!(FileMetadataStore::open(dir.path(), None).is_err());
}

#[test]
fn fresh_dir_with_unrelated_entries_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lost+found")).unwrap();
    std::fs::write(dir.path().join("notes-0"), b"a file, not a partition").unwrap();
    FileMetadataStore::open(dir.path(), Some("abc")).unwrap();
    assert_eq!(
        FileMetadataStore::open(dir.path(), None)
            .unwrap()
            .cluster_id(),
        "abc"
    );
}

fn write_doc(dir: &Path, json: &str) {
    std::fs::write(dir.join(METADATA_FILE), json).unwrap();
}

#[test]
fn damaged_or_contradictory_documents_are_refused() {
    let id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let cases = [
        ("{\"cluster_id\": \"c\", \"topics\": {", "is unreadable"),
        ("", "is unreadable"),
        (
            &format!("{{\"cluster_id\":\"c\",\"topics\":{{\"t\":{{\"name\":\"t\",\"id\":\"{id}\",\"partitions\":0,\"configs\":{{}}}}}}}}"),
            "has 0 partitions",
        ),
        (
            &format!("{{\"cluster_id\":\"c\",\"topics\":{{\"t\":{{\"name\":\"t\",\"id\":\"{id}\",\"partitions\":-3,\"configs\":{{}}}}}}}}"),
            "has -3 partitions",
        ),
        (
            &format!("{{\"cluster_id\":\"c\",\"topics\":{{\"t\":{{\"name\":\"u\",\"id\":\"{id}\",\"partitions\":1,\"configs\":{{}}}}}}}}"),
            "under the key 't'",
        ),
        (
            &format!("{{\"cluster_id\":\"c\",\"topics\":{{\"t\":{{\"name\":\"t\",\"id\":\"{id}\",\"partitions\":1,\"configs\":{{}}}},\"u\":{{\"name\":\"u\",\"id\":\"{id}\",\"partitions\":1,\"configs\":{{}}}}}}}}"),
            "same id",
        ),
        ("{\"cluster_id\":\"\",\"topics\":{}}", "empty cluster_id"),
    ];
    for (json, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_doc(dir.path(), json);
        let message = match FileMetadataStore::open(dir.path(), None) {
            Ok(_) => panic!("{json} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(expected), "{json}: {message}");
        assert!(message.contains(METADATA_FILE), "{message}");
        // Refusing never rewrites the file.
        assert_eq!(
            std::fs::read_to_string(dir.path().join(METADATA_FILE)).unwrap(),
            json
        );
    }
    let dir = tempfile::tempdir().unwrap();
    write_doc(
        dir.path(),
        &format!("{{\"cluster_id\":\"c\",\"topics\":{{\"t\":{{\"name\":\"t\",\"id\":\"{other}\",\"partitions\":2,\"configs\":{{}}}}}}}}"),
    );
    assert_eq!(
        FileMetadataStore::open(dir.path(), None).unwrap().topics()[0].partitions,
        2
    );
}

fn new_topic(name: &str, partitions: i32) -> TopicMeta {
    TopicMeta {
        name: name.into(),
        id: Uuid::new_v4(),
        partitions,
        configs: BTreeMap::new(),
        version: 0,
    }
}

#[tokio::test]
async fn creation_succeeds_only_for_a_free_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileMetadataStore::open(dir.path(), None).unwrap();
    let first = store.create_topic(new_topic("t", 1)).await.unwrap();
    assert!(first.version > 0);
    let second = store.create_topic(new_topic("t", 5)).await;
    assert!(
        matches!(&second, Err(StorageError::TopicExists(name)) if name == "t"),
        "{second:?}"
    );
    assert_eq!(store.topic("t"), Some(first.clone()));
    // An id already taken is refused too: ids name partitions on disk.
    let same_id = TopicMeta {
        id: first.id,
        ..new_topic("u", 1)
    };
    assert!(store.create_topic(same_id).await.is_err());
    assert_eq!(store.topic("u"), None);
}

#[tokio::test]
async fn updates_and_deletions_need_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileMetadataStore::open(dir.path(), None).unwrap();
    let read = store.create_topic(new_topic("t", 1)).await.unwrap();

    let grown = store
        .update_topic(TopicMeta {
            partitions: 3,
            ..read.clone()
        })
        .await
        .unwrap();
    assert!(grown.version > read.version);
    // A writer still holding the first read loses: its change is refused
    // and the stored topic keeps the winner's.
    let lost = store
        .update_topic(TopicMeta {
            partitions: 2,
            ..read.clone()
        })
        .await;
    assert!(
        matches!(lost, Err(StorageError::StaleTopic { expected, actual, .. })
            if expected == read.version && actual == grown.version),
        "{lost:?}"
    );
    assert!(matches!(
        store.delete_topic("t", read.version).await,
        Err(StorageError::StaleTopic { .. })
    ));
    assert_eq!(store.topic("t").unwrap().partitions, 3);

    store.delete_topic("t", grown.version).await.unwrap();
    assert!(matches!(
        store.delete_topic("t", grown.version).await,
        Err(StorageError::StaleTopic { actual: 0, .. })
    ));
    // A topic created again under the name is another topic: a write based
    // on the old one is stale even where the versions happen to meet.
    let again = store.create_topic(new_topic("t", 1)).await.unwrap();
    assert!(again.version > grown.version);
    let stale = store
        .update_topic(TopicMeta {
            version: again.version,
            ..grown.clone()
        })
        .await;
    assert!(matches!(
        stale,
        Err(StorageError::StaleTopic { actual: 0, .. })
    ));
    // An update of a topic never stored is refused.
    assert!(matches!(
        store.update_topic(new_topic("never", 1)).await,
        Err(StorageError::StaleTopic { .. })
    ));
    assert_eq!(store.topic("t"), Some(again));
}

#[tokio::test]
async fn versions_survive_reopen_and_files_without_versions_load() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    // As written before topics had versions.
    write_doc(
        dir.path(),
        &format!(
            "{{\"cluster_id\":\"c\",\"topics\":{{\
             \"a\":{{\"name\":\"a\",\"id\":\"{a}\",\"partitions\":2,\"configs\":{{}}}},\
             \"b\":{{\"name\":\"b\",\"id\":\"{b}\",\"partitions\":1,\"configs\":{{}}}}}}}}"
        ),
    );
    let store = FileMetadataStore::open(dir.path(), None).unwrap();
    let (old_a, old_b) = (store.topic("a").unwrap(), store.topic("b").unwrap());
    assert_eq!((old_a.partitions, old_b.partitions), (2, 1));
    assert!(old_a.version > 0 && old_b.version > 0 && old_a.version != old_b.version);
    let grown = store
        .update_topic(TopicMeta {
            partitions: 4,
            ..old_a.clone()
        })
        .await
        .unwrap();
    assert!(grown.version > old_a.version.max(old_b.version));
    drop(store);

    let reopened = FileMetadataStore::open(dir.path(), None).unwrap();
    assert_eq!(reopened.topic("a"), Some(grown.clone()));
    let created = reopened.create_topic(new_topic("c", 1)).await.unwrap();
    assert!(created.version > grown.version);
}
