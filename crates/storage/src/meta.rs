//! The metadata store: the cluster id, topics with their ids, partition counts
//! and config overrides.
//!
//! The local engine keeps it in one JSON document, `fjord-metadata.json` in the
//! data dir, replaced atomically (write temp, fsync, rename, fsync dir). Topic
//! changes are rare and small, so rewriting the whole document is cheaper than
//! a database dependency; high-rate state (committed offsets) will get its own
//! log.
//!
//! Topic writes are compare-and-set, as group-state writes are: a creation
//! succeeds only if the name is free, a change or deletion only if the
//! topic's version is still the one the writer read. Several brokers can
//! then share one store without one overwriting another's change unseen.

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
    /// Moves on with every write of the topic; the store sets it (a value
    /// given to `create_topic` is ignored). Versions come from one counter
    /// per store, so a topic deleted and created again never repeats a
    /// version its predecessor had. 0 for a topic never stored (files
    /// written before versions existed are numbered when loaded).
    #[serde(default)]
    pub version: u64,
}

#[async_trait]
pub trait MetadataStore: Send + Sync {
    fn cluster_id(&self) -> String;
    fn topics(&self) -> Vec<TopicMeta>;
    fn topic(&self, name: &str) -> Option<TopicMeta>;
    fn topic_by_id(&self, id: Uuid) -> Option<TopicMeta>;
    /// The id of the topic named (cheaper than `topic`: the request path
    /// asks it for every partition).
    fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.topic(name).map(|topic| topic.id)
    }
    /// Stores a new topic if no topic has its name (else
    /// [`TopicExists`](StorageError::TopicExists)); returns it as stored,
    /// with its version.
    async fn create_topic(&self, topic: TopicMeta) -> Result<TopicMeta>;
    /// Replaces the topic of the same name and id if its stored version is
    /// still `topic.version`, else fails with
    /// [`StaleTopic`](StorageError::StaleTopic) and changes nothing. Returns
    /// it as stored, with its new version.
    async fn update_topic(&self, topic: TopicMeta) -> Result<TopicMeta>;
    /// Removes the topic if its stored version is still `version` (else
    /// [`StaleTopic`](StorageError::StaleTopic)).
    async fn delete_topic(&self, name: &str, version: u64) -> Result<()>;
    /// The id of an internal topic served without an entry in `topics`
    /// (`__consumer_offsets`): made on first use and kept, as a topic keeps
    /// its id.
    async fn internal_topic_id(&self, name: &str) -> Result<Uuid>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Document {
    cluster_id: String,
    topics: BTreeMap<String, TopicMeta>,
    #[serde(default)]
    internal_topic_ids: BTreeMap<String, Uuid>,
    /// The last topic version handed out.
    #[serde(default)]
    last_version: u64,
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

    fn next_version(&mut self) -> u64 {
        self.last_version += 1;
        self.last_version
    }

    /// Refuses a write that expected `expected` of topic `name` (with id
    /// `id`, when the writer knows it) unless that is what is stored.
    fn check_version(&self, name: &str, id: Option<Uuid>, expected: u64) -> Result<()> {
        let actual = match self.topics.get(name) {
            Some(stored) if id.is_none_or(|id| id == stored.id) => stored.version,
            // The name now belongs to another topic (deleted and created
            // again), or to none.
            _ => 0,
        };
        if actual != expected || expected == 0 {
            return Err(StorageError::StaleTopic {
                topic: name.to_string(),
                expected,
                actual,
            });
        }
        Ok(())
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
    /// random one) when the data dir holds no data yet. An existing store
    /// keeps its own cluster id.
    ///
    /// Refuses (as Kafka refuses a log dir without `meta.properties`) a data
    /// dir that holds partition data or committed offsets but no metadata
    /// file, and a metadata file it cannot read or that contradicts itself:
    /// starting anyway would forget the topics and let the next creation of
    /// one of their names replace its data.
    pub fn open(data_dir: &Path, cluster_id: Option<&str>) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(METADATA_FILE);
        let doc = match std::fs::read(&path) {
            Ok(bytes) => parse_document(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                refuse_if_data_present(data_dir, &path)?;
                let doc = Document {
                    cluster_id: cluster_id.map(str::to_owned).unwrap_or_else(new_cluster_id),
                    ..Document::default()
                };
                write_atomically(&path, &doc)?;
                doc
            }
            Err(e) => {
                return Err(StorageError::Metadata(format!(
                    "cannot read the metadata file {}: {e}; refusing to start without it",
                    path.display()
                )))
            }
        };
        Ok(FileMetadataStore {
            path,
            doc: Mutex::new(doc),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Applies `change` to a copy of the document and makes that the stored
    /// document; if `change` refuses, nothing is written. Writers take turns,
    /// so what `change` checks is still true when its result is stored.
    async fn update<T>(&self, change: impl FnOnce(&mut Document) -> Result<T>) -> Result<T> {
        let _writer = self.write_lock.lock().await;
        let mut next = self.doc.lock().clone();
        let outcome = change(&mut next)?;
        next.index_ids();
        let path = self.path.clone();
        let to_write = next.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &to_write))
            .await
            .map_err(|e| StorageError::Metadata(format!("metadata writer failed: {e}")))??;
        *self.doc.lock() = next;
        Ok(outcome)
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

    fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.doc.lock().topics.get(name).map(|topic| topic.id)
    }

    fn topic_by_id(&self, id: Uuid) -> Option<TopicMeta> {
        let doc = self.doc.lock();
        doc.names_by_id
            .get(&id)
            .and_then(|name| doc.topics.get(name))
            .cloned()
    }

    async fn create_topic(&self, mut topic: TopicMeta) -> Result<TopicMeta> {
        self.update(|doc| {
            if doc.topics.contains_key(&topic.name) {
                return Err(StorageError::TopicExists(topic.name.clone()));
            }
            if let Some(holder) = doc.names_by_id.get(&topic.id) {
                return Err(StorageError::Metadata(format!(
                    "topic id {} already belongs to topic '{holder}'",
                    topic.id
                )));
            }
            topic.version = doc.next_version();
            doc.topics.insert(topic.name.clone(), topic.clone());
            Ok(topic)
        })
        .await
    }

    async fn update_topic(&self, mut topic: TopicMeta) -> Result<TopicMeta> {
        self.update(|doc| {
            doc.check_version(&topic.name, Some(topic.id), topic.version)?;
            topic.version = doc.next_version();
            doc.topics.insert(topic.name.clone(), topic.clone());
            Ok(topic)
        })
        .await
    }

    async fn delete_topic(&self, name: &str, version: u64) -> Result<()> {
        self.update(|doc| {
            doc.check_version(name, None, version)?;
            doc.topics.remove(name);
            Ok(())
        })
        .await
    }

    async fn internal_topic_id(&self, name: &str) -> Result<Uuid> {
        if let Some(id) = self.doc.lock().internal_topic_ids.get(name) {
            return Ok(*id);
        }
        let id = Uuid::new_v4();
        self.update(|doc| {
            doc.internal_topic_ids.entry(name.to_string()).or_insert(id);
            Ok(())
        })
        .await?;
        self.doc
            .lock()
            .internal_topic_ids
            .get(name)
            .copied()
            .ok_or_else(|| StorageError::Metadata(format!("no id kept for {name}")))
    }
}

/// Decodes the document and checks what Fjord itself never writes: a topic
/// filed under another name, a partition count below 1, a topic id used
/// twice. Such a file was edited or damaged, and guessing the intended value
/// (a partition count from the directories found, say) could hide partitions
/// that hold data or invent ones that never existed, so the broker refuses
/// to start and says what to fix.
fn parse_document(path: &Path, bytes: &[u8]) -> Result<Document> {
    let refuse = |why: String| {
        StorageError::Metadata(format!(
            "the metadata file {} {why}; refusing to start. Restore it from a backup \
             or correct it by hand",
            path.display()
        ))
    };
    let mut doc = serde_json::from_slice::<Document>(bytes)
        .map_err(|e| refuse(format!("is unreadable ({e})")))?;
    if doc.cluster_id.is_empty() {
        return Err(refuse("has an empty cluster_id".to_string()));
    }
    for (key, topic) in &doc.topics {
        if *key != topic.name {
            return Err(refuse(format!(
                "files topic '{}' under the key '{key}'",
                topic.name
            )));
        }
        if topic.partitions < 1 {
            return Err(refuse(format!(
                "says topic '{key}' has {} partitions; a topic has at least 1. Set its \
                 \"partitions\" to the number of {key}-<n> directories in the data dir, \
                 or remove its entry (its directories are then ignored)",
                topic.partitions
            )));
        }
    }
    doc.index_ids();
    if doc.names_by_id.len() != doc.topics.len() {
        return Err(refuse("gives two topics the same id".to_string()));
    }
    number_unversioned_topics(&mut doc);
    Ok(doc)
}

/// Files written before topics had versions (and hand-edited ones) are
/// taken as they are: each topic without a version gets a fresh one, and the
/// counter never hands out a version a topic already has. Nothing is written
/// back until the next change.
fn number_unversioned_topics(doc: &mut Document) {
    let highest = doc.topics.values().map(|t| t.version).max().unwrap_or(0);
    doc.last_version = doc.last_version.max(highest);
    let unversioned: Vec<String> = doc
        .topics
        .values()
        .filter(|t| t.version == 0)
        .map(|t| t.name.clone())
        .collect();
    for name in unversioned {
        let version = doc.next_version();
        if let Some(topic) = doc.topics.get_mut(&name) {
            topic.version = version;
        }
    }
}

/// With no metadata file, the data dir must hold no data either: partition
/// directories or committed offsets without the file that names their topics
/// mean the file was lost, not that this is a new broker.
fn refuse_if_data_present(data_dir: &Path, path: &Path) -> Result<()> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let holds_data = if name == crate::local_offsets::OFFSETS_DIR {
            // A broker that never stored a commit leaves empty files here.
            let mut sizes =
                std::fs::read_dir(entry.path())?.map(|f| f?.metadata().map(|m| m.len()));
            sizes.try_fold(false, |any, size| size.map(|s| any || s > 0))?
        } else {
            entry.file_type()?.is_dir() && crate::local::parse_partition_dir_name(&name).is_some()
        };
        if holds_data {
            found.push(name);
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown = found.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = found.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Err(StorageError::Metadata(format!(
        "the data dir {} holds data ({shown}{more}) but no metadata file {}; refusing to \
         start, since a new metadata file would forget those topics and their ids. Restore \
         {METADATA_FILE} from a backup, or move the data dir's contents away to start an \
         empty broker",
        data_dir.display(),
        path.display()
    )))
}

/// Kafka cluster ids are a UUID in Kafka's text form (22 chars).
fn new_cluster_id() -> String {
    crate::kafka_uuid::to_kafka_string(Uuid::new_v4())
}

fn write_atomically(path: &Path, doc: &Document) -> Result<()> {
    write_json_atomically(path, doc)
}

/// Replaces the JSON file at `path` with `value`, durably: written to a
/// temp file beside it, fsynced, renamed over it, and the directory
/// fsynced, so that a crash leaves the old file or the new one, whole.
pub(crate) fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| StorageError::Metadata(format!("cannot encode {}: {e}", path.display())))?;
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
#[path = "meta_tests.rs"]
mod tests;
