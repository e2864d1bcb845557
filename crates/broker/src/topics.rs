//! Topics: names, ids, partition counts and config overrides (in the metadata
//! store) kept in step with the partition logs (in the log store).

use std::collections::BTreeMap;
use std::sync::Arc;

use fjord_storage::meta::{MetadataStore, TopicMeta};
use fjord_storage::offsets::OffsetStore;
use fjord_storage::{LogConfig, LogStore, PartitionLog};
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::configs::{validate_topic_config, StaticConfigs};
use crate::error::{ApiError, ApiResult};

pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Partitions one request may create, as Kafka's controller caps them: each
/// is a directory and open files, so a request must not ask for millions.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;

fn too_many_partitions() -> ApiError {
    ApiError::new(
        ResponseError::InvalidPartitions,
        "Excessively large number of partitions per request.",
    )
}

pub struct TopicRegistry {
    meta: Arc<dyn MetadataStore>,
    logs: Arc<dyn LogStore>,
    /// Committed offsets, dropped with their topic.
    offsets: Arc<dyn OffsetStore>,
    statics: StaticConfigs,
    /// Serialises topic creation, deletion and growth.
    changes: tokio::sync::Mutex<()>,
}

impl TopicRegistry {
    /// Opens every partition of every known topic.
    pub async fn open(
        meta: Arc<dyn MetadataStore>,
        logs: Arc<dyn LogStore>,
        offsets: Arc<dyn OffsetStore>,
        statics: StaticConfigs,
    ) -> ApiResult<Self> {
        let registry = TopicRegistry {
            meta,
            logs,
            offsets,
            statics,
            changes: tokio::sync::Mutex::new(()),
        };
        for topic in registry.meta.topics() {
            let config = registry.log_config(&topic);
            for partition in 0..topic.partitions {
                registry
                    .logs
                    .open_partition(&topic.name, partition, config.clone())
                    .await?;
            }
        }
        Ok(registry)
    }

    pub fn meta(&self) -> &Arc<dyn MetadataStore> {
        &self.meta
    }

    pub fn statics(&self) -> &StaticConfigs {
        &self.statics
    }

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.meta.topic(name)
    }

    pub fn by_id(&self, id: Uuid) -> Option<TopicMeta> {
        self.meta.topic_by_id(id)
    }

    pub fn all(&self) -> Vec<TopicMeta> {
        self.meta.topics()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<dyn PartitionLog>> {
        self.logs.partition(topic, partition)
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
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let topic = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(topic);
        }
        // Stale data under this name (a delete interrupted by a crash) must
        // not reappear in the new topic.
        for partition in 0..partitions {
            self.logs.delete_partition(name, partition).await?;
        }
        let config = self.log_config(&topic);
        for partition in 0..partitions {
            self.logs
                .open_partition(name, partition, config.clone())
                .await?;
        }
        self.meta.put_topic(topic.clone()).await?;
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
        let _guard = self.changes.lock().await;
        let topic = self.meta.topic(name).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            )
        })?;
        // Metadata first: once the topic is gone from it, a crash leaves only
        // orphan data, which `create` clears before reusing the name.
        self.meta.delete_topic(name).await?;
        for partition in 0..topic.partitions {
            self.logs.delete_partition(name, partition).await?;
        }
        self.offsets.delete_topic(name).await?;
        tracing::info!(topic = name, id = %topic.id, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions.
    pub async fn add_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> ApiResult<()> {
        let _guard = self.changes.lock().await;
        let mut topic = self.meta.topic(name).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )
        })?;
        if total == topic.partitions {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {total} partitions."),
            ));
        }
        if total < topic.partitions {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "Topic currently has {} partitions, which is higher than the requested {total}.",
                    topic.partitions
                ),
            ));
        }
        if total - topic.partitions > MAX_PARTITIONS_PER_REQUEST {
            return Err(too_many_partitions());
        }
        if validate_only {
            return Ok(());
        }
        let config = self.log_config(&topic);
        for partition in topic.partitions..total {
            self.logs.delete_partition(name, partition).await?;
            self.logs
                .open_partition(name, partition, config.clone())
                .await?;
        }
        topic.partitions = total;
        self.meta.put_topic(topic).await?;
        Ok(())
    }
}

/// Kafka's rule: 1–249 characters of ASCII letters, digits, '.', '_' and '-',
/// and neither "." nor "..".
pub fn validate_topic_name(name: &str) -> ApiResult<()> {
    let invalid = |why: &str| {
        ApiError::new(
            ResponseError::InvalidTopicException,
            format!("Topic name \"{name}\" is illegal, {why}"),
        )
    };
    if name.is_empty() {
        return Err(invalid("it can't be empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("it cannot be \".\" or \"..\""));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(invalid("it can't be longer than 249 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
        ));
    }
    Ok(())
}
