//! Topics: names, ids, partition counts and config overrides (in the metadata
//! store) kept in step with the partition logs (in the log store).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use fjord_storage::meta::{MetadataStore, TopicMeta};
use fjord_storage::offsets::OffsetStore;
use fjord_storage::{LogConfig, LogStore, PartitionLog, StorageError, TopicIdPartition};
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::configs::{validate_topic_config, StaticConfigs};
use crate::error::{ApiError, ApiResult};
use crate::internal_topics::{self, is_internal, CONSUMER_OFFSETS};
use crate::topic_rules::{already_exists, check_growth, too_many_partitions};
pub use crate::topic_rules::{
    validate_topic_name, MAX_PARTITIONS_PER_REQUEST, MAX_TOPICS_AUTO_CREATED_PER_REQUEST,
    MAX_TOPIC_NAME_LEN,
};

/// How often a change of a topic that another writer changed first is
/// re-read and tried again before the request is answered NOT_CONTROLLER
/// (retriable): each retry means someone else's write succeeded, so this is
/// only reached under a storm of changes to one topic.
const STALE_RETRIES: usize = 5;
pub struct TopicRegistry {
    meta: Arc<dyn MetadataStore>,
    logs: Arc<dyn LogStore>,
    /// Committed offsets, dropped with their topic.
    offsets: Arc<dyn OffsetStore>,
    statics: StaticConfigs,
    /// Serialises this broker's topic creation, deletion and growth, which
    /// change its log directories as well as the metadata. Between writers
    /// that share the metadata store (later, several brokers) the store's
    /// compare-and-set decides: a creation of a name taken meanwhile fails,
    /// a change based on a stale read is re-read and tried again.
    changes: tokio::sync::Mutex<()>,
    /// `__consumer_offsets` as it is listed (see `internal_topics`).
    consumer_offsets: TopicMeta,
}

impl TopicRegistry {
    /// Opens every partition of every known topic.
    pub async fn open(
        meta: Arc<dyn MetadataStore>,
        logs: Arc<dyn LogStore>,
        offsets: Arc<dyn OffsetStore>,
        statics: StaticConfigs,
    ) -> ApiResult<Self> {
        let offsets_topic_id = meta.internal_topic_id(CONSUMER_OFFSETS).await?;
        let offsets_topic_partitions = statics
            .get_i64(
                "offsets.topic.num.partitions",
                internal_topics::DEFAULT_CONSUMER_OFFSETS_PARTITIONS.into(),
            )
            .clamp(1, MAX_PARTITIONS_PER_REQUEST.into())
            as i32;
        let registry = TopicRegistry {
            meta,
            logs,
            offsets,
            statics,
            changes: tokio::sync::Mutex::new(()),
            consumer_offsets: internal_topics::consumer_offsets(
                offsets_topic_id,
                offsets_topic_partitions,
            ),
        };
        for topic in registry.meta.topics() {
            if is_internal(&topic.name) {
                tracing::warn!(
                    topic = topic.name,
                    "the metadata lists an ordinary topic with an internal topic's name \
                     (auto-created before Fjord reserved the name); ignored, and its \
                     directories left in place"
                );
                continue;
            }
            let config = registry.log_config(&topic);
            for partition in 0..topic.partitions {
                registry
                    .logs
                    .open_partition(
                        &TopicIdPartition::new(topic.id, &topic.name, partition),
                        config.clone(),
                    )
                    .await?;
            }
        }
        Ok(registry)
    }

    /// The partition count of every topic the metadata lists, for the log
    /// store to register at start-up (it leaves other directories alone).
    pub fn known_partitions(meta: &dyn MetadataStore) -> std::collections::HashMap<String, i32> {
        meta.topics()
            .into_iter()
            .filter(|topic| !is_internal(&topic.name))
            .map(|topic| (topic.name, topic.partitions))
            .collect()
    }

    pub fn meta(&self) -> &Arc<dyn MetadataStore> {
        &self.meta
    }

    pub fn statics(&self) -> &StaticConfigs {
        &self.statics
    }

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        if name == CONSUMER_OFFSETS {
            return Some(self.consumer_offsets.clone());
        }
        self.meta.topic(name).filter(|t| !is_internal(&t.name))
    }

    pub fn by_id(&self, id: Uuid) -> Option<TopicMeta> {
        if id == self.consumer_offsets.id {
            return Some(self.consumer_offsets.clone());
        }
        self.meta.topic_by_id(id).filter(|t| !is_internal(&t.name))
    }

    /// Every topic, by name, `__consumer_offsets` included.
    pub fn all(&self) -> Vec<TopicMeta> {
        let mut topics = self.meta.topics();
        topics.retain(|t| !is_internal(&t.name));
        let at = topics.partition_point(|t| t.name.as_str() < CONSUMER_OFFSETS);
        topics.insert(at, self.consumer_offsets.clone());
        topics
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<dyn PartitionLog>> {
        if is_internal(topic) {
            return None;
        }
        self.logs.partition(self.meta.topic_id(topic)?, partition)
    }

    /// The log to read a partition from (Fetch, ListOffsets), or the error
    /// to answer.
    pub fn readable_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<dyn PartitionLog>, ResponseError> {
        if is_internal(topic) {
            return Err(internal_topics::read_refused(topic));
        }
        self.partition(topic, partition)
            .ok_or(ResponseError::UnknownTopicOrPartition)
    }

    /// The log to append to (Produce), or the error to answer.
    pub fn writable_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> ApiResult<Arc<dyn PartitionLog>> {
        if is_internal(topic) {
            return Err(internal_topics::change_refused(topic, "written to"));
        }
        self.partition(topic, partition).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
            )
        })
    }

    pub fn log_config(&self, topic: &TopicMeta) -> LogConfig {
        self.statics.log_config(&topic.configs)
    }

    /// Creates a topic; with `validate_only` checks everything and changes nothing.
    pub async fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> ApiResult<TopicMeta> {
        validate_topic_name(name)?;
        if name == CONSUMER_OFFSETS {
            // Listed as existing, so Kafka's answer once any group has used
            // the cluster.
            return Err(already_exists(name));
        }
        if is_internal(name) {
            return Err(internal_topics::change_refused(name, "created"));
        }
        if partitions < 1 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                "Number of partitions must be larger than 0.",
            ));
        }
        if partitions > MAX_PARTITIONS_PER_REQUEST {
            return Err(too_many_partitions());
        }
        for (key, value) in &configs {
            validate_topic_config(key, value)?;
        }
        let _guard = self.changes.lock().await;
        if self.meta.topic(name).is_some() {
            return Err(already_exists(name));
        }
        let topic = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
            version: 0,
        };
        if validate_only {
            return Ok(topic);
        }
        // All or nothing: the logs first (a directory already under this
        // name is moved aside, never reused), then the metadata; if either
        // fails (another writer of the store took the name meanwhile, say),
        // the logs made are removed again.
        let config = self.log_config(&topic);
        self.create_logs(&topic, 0..partitions, &config).await?;
        let topic = match self.meta.create_topic(topic.clone()).await {
            Ok(stored) => stored,
            Err(err) => {
                self.remove_logs(&topic, 0..partitions).await;
                return Err(match err {
                    StorageError::TopicExists(_) => already_exists(name),
                    other => other.into(),
                });
            }
        };
        tracing::info!(topic = name, partitions, id = %topic.id, "created topic");
        Ok(topic)
    }

    /// Auto-creation on Metadata/Produce: the topic if it exists, else a new
    /// one with `num.partitions`.
    pub async fn get_or_create(&self, name: &str, partitions: i32) -> ApiResult<TopicMeta> {
        if let Some(topic) = self.get(name) {
            return Ok(topic);
        }
        match self.create(name, partitions, BTreeMap::new(), false).await {
            Err(e) if e.code == ResponseError::TopicAlreadyExists => {
                self.get(name).ok_or_else(|| {
                    ApiError::new(ResponseError::UnknownTopicOrPartition, "topic vanished")
                })
            }
            other => other,
        }
    }

    pub async fn delete(&self, name: &str) -> ApiResult<TopicMeta> {
        if is_internal(name) {
            return Err(internal_topics::change_refused(name, "deleted"));
        }
        let _guard = self.changes.lock().await;
        let mut attempts = 0;
        let topic = loop {
            let topic = self.meta.topic(name).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            })?;
            // Metadata first: once the topic is gone from it, a crash leaves
            // only orphan data, which `create` clears before reusing the name.
            match self.meta.delete_topic(name, topic.version).await {
                Ok(()) => break topic,
                // Changed by another writer since read: delete what is
                // there now (Kafka deletes the topic the name holds), or
                // answer that it is gone.
                Err(StorageError::StaleTopic { .. }) if attempts < STALE_RETRIES => attempts += 1,
                Err(err) => return Err(err.into()),
            }
        };
        for partition in 0..topic.partitions {
            self.logs.delete_partition(topic.id, partition).await?;
        }
        self.offsets.delete_topic(name).await?;
        tracing::info!(topic = name, id = %topic.id, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions. A topic another writer changed
    /// between read and write is read again and the request judged anew,
    /// as Kafka's controller judges requests one after another: of two
    /// requests for the same count, the second is told the topic already
    /// has it.
    pub async fn add_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> ApiResult<()> {
        if is_internal(name) {
            return Err(internal_topics::change_refused(
                name,
                "given more partitions",
            ));
        }
        let _guard = self.changes.lock().await;
        let mut attempts = 0;
        loop {
            let topic = self.meta.topic(name).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                )
            })?;
            check_growth(&topic, total)?;
            if validate_only {
                return Ok(());
            }
            let config = self.log_config(&topic);
            let added = topic.partitions..total;
            self.create_logs(&topic, added.clone(), &config).await?;
            let grown = TopicMeta {
                partitions: total,
                ..topic.clone()
            };
            match self.meta.update_topic(grown).await {
                Ok(_) => return Ok(()),
                Err(err) => {
                    self.remove_logs(&topic, added).await;
                    match err {
                        StorageError::StaleTopic { .. } if attempts < STALE_RETRIES => {
                            attempts += 1
                        }
                        other => return Err(other.into()),
                    }
                }
            }
        }
    }

    /// Creates the logs of `partitions`, all or none: after the first
    /// failure (out of file handles, disk full) the ones made are removed.
    async fn create_logs(
        &self,
        topic: &TopicMeta,
        partitions: Range<i32>,
        config: &LogConfig,
    ) -> ApiResult<()> {
        for partition in partitions.clone() {
            let id = TopicIdPartition::new(topic.id, &topic.name, partition);
            if let Err(err) = self.logs.create_partition(&id, config.clone()).await {
                tracing::error!(
                    topic = topic.name,
                    partition,
                    error = %err,
                    "creating a partition failed; removing the partitions made for this request"
                );
                self.remove_logs(topic, partitions.start..partition).await;
                return Err(err.into());
            }
        }
        Ok(())
    }

    /// Removes the logs of a creation that failed. What cannot be removed
    /// is reported here, and ignored (and reported again) at start-up.
    async fn remove_logs(&self, topic: &TopicMeta, partitions: Range<i32>) {
        for partition in partitions {
            if let Err(err) = self.logs.delete_partition(topic.id, partition).await {
                tracing::error!(
                    topic = topic.name,
                    partition,
                    error = %err,
                    "cannot remove a partition of a failed creation"
                );
            }
        }
    }
}
