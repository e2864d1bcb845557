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
    };
    store.put_topic(topic.clone()).await.unwrap();
    store
        .put_topic(TopicMeta {
            name: "gone".into(),
            id: Uuid::new_v4(),
            partitions: 1,
            configs: BTreeMap::new(),
        })
        .await
        .unwrap();
    store.delete_topic("gone").await.unwrap();
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
