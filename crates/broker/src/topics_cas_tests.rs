//! Topic changes through registries that share one metadata store, as
//! brokers sharing a store will (issue 8): the store's compare-and-set
//! decides between them, and the loser's log directories are removed.

use std::sync::Arc;

use async_trait::async_trait;
use fjord_storage::local::LocalLogStore;
use fjord_storage::local_offsets::LocalOffsetStore;
use fjord_storage::meta::{FileMetadataStore, MetadataStore, TopicMeta};
use fjord_storage::Result;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::configs::StaticConfigs;
use crate::topics::TopicRegistry;

/// A store shared with another writer, which gets in first: the next write
/// through this handle is preceded by `sneak` (another broker's write
/// landing between this one's read and its write).
struct Contended {
    shared: Arc<FileMetadataStore>,
    sneak: Mutex<Option<TopicMeta>>,
}

impl Contended {
    /// Another writer's change of `topic` (created if its version is 0).
    async fn let_other_writer_in(&self) {
        let Some(topic) = self.sneak.lock().take() else {
            return;
        };
        let result = if topic.version == 0 {
            self.shared.create_topic(topic).await
        } else {
            self.shared.update_topic(topic).await
        };
        result.expect("the other writer's change");
    }
}

#[async_trait]
impl MetadataStore for Contended {
    fn cluster_id(&self) -> String {
        self.shared.cluster_id()
    }
    fn topics(&self) -> Vec<TopicMeta> {
        self.shared.topics()
    }
    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.shared.topic(name)
    }
    fn topic_by_id(&self, id: Uuid) -> Option<TopicMeta> {
        self.shared.topic_by_id(id)
    }
    async fn create_topic(&self, topic: TopicMeta) -> Result<TopicMeta> {
        self.let_other_writer_in().await;
        self.shared.create_topic(topic).await
    }
    async fn update_topic(&self, topic: TopicMeta) -> Result<TopicMeta> {
        self.let_other_writer_in().await;
        self.shared.update_topic(topic).await
    }
    async fn delete_topic(&self, name: &str, version: u64) -> Result<()> {
        self.let_other_writer_in().await;
        self.shared.delete_topic(name, version).await
    }
    async fn internal_topic_id(&self, name: &str) -> Result<Uuid> {
        self.shared.internal_topic_id(name).await
    }
}

/// A registry with its own data dir over `meta`.
async fn registry(meta: Arc<dyn MetadataStore>, dir: &std::path::Path) -> TopicRegistry {
    let logs = Arc::new(LocalLogStore::open_known(dir.to_path_buf(), |_, _| false).unwrap());
    let offsets = Arc::new(LocalOffsetStore::open(dir).unwrap());
    TopicRegistry::open(meta, logs, offsets, StaticConfigs::default())
        .await
        .unwrap()
}

fn partition_dirs(dir: &std::path::Path, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

fn topic(name: &str, partitions: i32) -> TopicMeta {
    TopicMeta {
        name: name.to_string(),
        id: Uuid::new_v4(),
        partitions,
        configs: Default::default(),
        version: 0,
    }
}

struct Shared {
    store: Arc<FileMetadataStore>,
    contended: Arc<Contended>,
    registry: TopicRegistry,
    dir: tempfile::TempDir,
    _meta_dir: tempfile::TempDir,
}

async fn shared() -> Shared {
    let meta_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileMetadataStore::open(meta_dir.path(), None).unwrap());
    let contended = Arc::new(Contended {
        shared: store.clone(),
        sneak: Mutex::new(None),
    });
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(contended.clone(), dir.path()).await;
    Shared {
        store,
        contended,
        registry,
        dir,
        _meta_dir: meta_dir,
    }
}

#[tokio::test]
async fn a_creation_that_loses_the_name_answers_already_exists_and_keeps_nothing() {
    let s = shared().await;
    let winner = topic("t", 2);
    *s.contended.sneak.lock() = Some(winner.clone());

    let lost = s
        .registry
        .create("t", 3, Default::default(), false)
        .await
        .unwrap_err();
    assert_eq!(lost.code, ResponseError::TopicAlreadyExists);
    assert_eq!(lost.message, "Topic 't' already exists.");
    let stored = s.store.topic("t").unwrap();
    assert_eq!((stored.id, stored.partitions), (winner.id, 2));
    assert_eq!(partition_dirs(s.dir.path(), "t"), Vec::<String>::new());
}

#[tokio::test]
async fn growth_based_on_a_stale_read_is_judged_again() {
    let s = shared().await;
    let created = s
        .registry
        .create("g", 2, Default::default(), false)
        .await
        .unwrap();
    // Another broker grows it to 4 between our read and our write: asking
    // for 6 still succeeds, from 4.
    *s.contended.sneak.lock() = Some(TopicMeta {
        partitions: 4,
        ..created.clone()
    });
    s.registry.add_partitions("g", 6, false).await.unwrap();
    assert_eq!(s.store.topic("g").unwrap().partitions, 6);
    // Partitions 2 and 3 are the other broker's: the ones made for the
    // failed first attempt are gone.
    assert_eq!(
        partition_dirs(s.dir.path(), "g"),
        vec!["g-0", "g-1", "g-4", "g-5"]
    );

    // Asking for the count another broker has just reached is Kafka's
    // "already has" answer, and changes nothing.
    let current = s.store.topic("g").unwrap();
    *s.contended.sneak.lock() = Some(TopicMeta {
        partitions: 8,
        ..current
    });
    let refused = s.registry.add_partitions("g", 8, false).await.unwrap_err();
    assert_eq!(refused.code, ResponseError::InvalidPartitions);
    assert_eq!(refused.message, "Topic already has 8 partitions.");
    assert_eq!(s.store.topic("g").unwrap().partitions, 8);
    assert!(!partition_dirs(s.dir.path(), "g").contains(&"g-6".to_string()));
}

#[tokio::test]
async fn deletion_after_another_writers_change_deletes_what_is_there() {
    let s = shared().await;
    let created = s
        .registry
        .create("d", 1, Default::default(), false)
        .await
        .unwrap();
    *s.contended.sneak.lock() = Some(TopicMeta {
        partitions: 3,
        ..created
    });
    let deleted = s.registry.delete("d").await.unwrap();
    assert_eq!(deleted.partitions, 3);
    assert!(s.store.topic("d").is_none());
    assert_eq!(partition_dirs(s.dir.path(), "d"), Vec::<String>::new());
}

/// Two registries (two brokers' worth of log directories) race on one
/// store: exactly one creation wins, the other is told the topic exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registries_create_a_name_once() {
    let meta_dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> =
        Arc::new(FileMetadataStore::open(meta_dir.path(), None).unwrap());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Arc::new(registry(store.clone(), dir_a.path()).await);
    let b = Arc::new(registry(store.clone(), dir_b.path()).await);
    for round in 0..20 {
        let name = format!("race-{round}");
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let (a, name) = (a.clone(), name.clone());
                async move { a.create(&name, 2, Default::default(), false).await }
            }),
            tokio::spawn({
                let (b, name) = (b.clone(), name.clone());
                async move { b.create(&name, 3, Default::default(), false).await }
            }),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let (won, lost) = match (&ra, &rb) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            _ => panic!("round {round}: {ra:?} / {rb:?}"),
        };
        assert_eq!(lost.code, ResponseError::TopicAlreadyExists);
        assert_eq!(store.topic(&name).as_ref(), Some(won));
        let loser_dir = if ra.is_ok() { &dir_b } else { &dir_a };
        assert_eq!(
            partition_dirs(loser_dir.path(), &name),
            Vec::<String>::new()
        );
    }
}
