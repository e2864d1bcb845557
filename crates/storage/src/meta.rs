//! The metadata store: the cluster id, topics with their ids, partition counts
//! and config overrides.
//!
//! The local engine keeps it in one JSON document, `fjord-metadata.json` in the
//! data dir, replaced atomically (write temp, fsync, rename, fsync dir). Topic
//! changes are rare and small, so rewriting the whole document is cheaper than
//! a database dependency; high-rate state (committed offsets) will get its own
//! log.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Result, StorageError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level config overrides, by Kafka name.
    pub configs: BTreeMap<String, String>,
}

#[async_trait]
pub trait MetadataStore: Send + Sync {
    fn cluster_id(&self) -> String;
    fn topics(&self) -> Vec<TopicMeta>;
    fn topic(&self, name: &str) -> Option<TopicMeta>;
    fn topic_by_id(&self, id: Uuid) -> Option<TopicMeta>;
    /// Creates or replaces the topic (matched by name).
    async fn put_topic(&self, topic: TopicMeta) -> Result<()>;
    async fn delete_topic(&self, name: &str) -> Result<()>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Document {
    cluster_id: String,
    topics: BTreeMap<String, TopicMeta>,
    /// Topic id → name, derived from `topics` (requests since Fetch v13 and
    /// Produce v13 name topics by id).
    #[serde(skip)]
    names_by_id: HashMap<Uuid, String>,
}

impl Document {
    fn index_ids(&mut self) {
        self.names_by_id = self
            .topics
            .values()
            .map(|t| (t.id, t.name.clone()))
            .collect();
    }
}

pub struct FileMetadataStore {
    path: PathBuf,
    doc: Mutex<Document>,
    /// Serialises writers so that documents reach the disk in the order they
    /// were changed in memory.
    write_lock: tokio::sync::Mutex<()>,
}

pub const METADATA_FILE: &str = "fjord-metadata.json";

impl FileMetadataStore {
    /// Opens the store in `data_dir`, creating it with `cluster_id` (or a new
    /// random one) when absent. An existing store keeps its own cluster id.
    pub fn open(data_dir: &Path, cluster_id: Option<&str>) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(METADATA_FILE);
        let doc = match std::fs::read(&path) {
            Ok(bytes) => {
                let mut doc = serde_json::from_slice::<Document>(&bytes).map_err(|e| {
                    StorageError::Metadata(format!("{} is unreadable: {e}", path.display()))
                })?;
                doc.index_ids();
                doc
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Document {
                    cluster_id: cluster_id.map(str::to_owned).unwrap_or_else(new_cluster_id),
                    ..Document::default()
                };
                write_atomically(&path, &doc)?;
                doc
            }
            Err(e) => return Err(e.into()),
        };
        Ok(FileMetadataStore {
            path,
            doc: Mutex::new(doc),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    async fn update(&self, change: impl FnOnce(&mut Document)) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut next = self.doc.lock().clone();
        change(&mut next);
        next.index_ids();
        let path = self.path.clone();
        let to_write = next.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &to_write))
            .await
            .map_err(|e| StorageError::Metadata(format!("metadata writer failed: {e}")))??;
        *self.doc.lock() = next;
        Ok(())
    }
}

#[async_trait]
impl MetadataStore for FileMetadataStore {
    fn cluster_id(&self) -> String {
        self.doc.lock().cluster_id.clone()
    }

    fn topics(&self) -> Vec<TopicMeta> {
        self.doc.lock().topics.values().cloned().collect()
    }

    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.doc.lock().topics.get(name).cloned()
    }

    fn topic_by_id(&self, id: Uuid) -> Option<TopicMeta> {
        let doc = self.doc.lock();
        doc.names_by_id
            .get(&id)
            .and_then(|name| doc.topics.get(name))
            .cloned()
    }

    async fn put_topic(&self, topic: TopicMeta) -> Result<()> {
        self.update(|doc| {
            doc.topics.insert(topic.name.clone(), topic);
        })
        .await
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        self.update(|doc| {
            doc.topics.remove(name);
        })
        .await
    }
}

/// Kafka cluster ids are a UUID in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn write_atomically(path: &Path, doc: &Document) -> Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec_pretty(doc)
        .map_err(|e| StorageError::Metadata(format!("cannot encode metadata: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
