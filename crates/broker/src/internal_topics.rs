//! Kafka's internal topic names.
//!
//! `__consumer_offsets` is listed as Kafka lists it (is_internal, with
//! `offsets.topic.num.partitions` partitions) so that tools and clients that
//! look for it find it, but Fjord has no log behind it: committed offsets
//! live in Fjord's own offset store (`fjord_storage::local_offsets`), which
//! OffsetFetch, ListConsumerGroupOffsets and `kafka-consumer-groups` read.
//! Fetching from it is refused with TOPIC_AUTHORIZATION_FAILED (ListOffsets
//! answers as for an empty log, so that consumers get as far as Fetch), the one
//! error every client reports to the application at once instead of
//! retrying (Java throws TopicAuthorizationException, librdkafka and
//! aiokafka raise it from poll), and the answer Kafka gives for its own
//! reserved `__cluster_metadata`; writing to it is refused as Kafka refuses
//! appends to internal topics, with INVALID_TOPIC_EXCEPTION.
//!
//! `__transaction_state` is reserved but not listed: Kafka creates it with
//! the first transactional producer, and Fjord has no transactions yet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use fjord_storage::meta::TopicMeta;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::error::ApiError;

pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";
pub const TRANSACTION_STATE: &str = "__transaction_state";
/// Kafka's default for `offsets.topic.num.partitions`.
pub const DEFAULT_CONSUMER_OFFSETS_PARTITIONS: i32 = 50;

pub fn is_internal(name: &str) -> bool {
    name == CONSUMER_OFFSETS || name == TRANSACTION_STATE
}

/// `__consumer_offsets` as Metadata, DescribeTopicPartitions and
/// DescribeConfigs show it, with the configs Kafka creates it with.
pub fn consumer_offsets(id: Uuid, partitions: i32) -> TopicMeta {
    let configs: BTreeMap<String, String> = [
        ("cleanup.policy", "compact"),
        ("compression.type", "producer"),
        ("segment.bytes", "104857600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    TopicMeta {
        name: CONSUMER_OFFSETS.to_string(),
        id,
        partitions,
        configs,
        version: 0,
    }
}

/// The error for reading an internal topic as records (Fetch).
pub fn read_refused(topic: &str) -> ResponseError {
    static EXPLAINED: AtomicBool = AtomicBool::new(false);
    if !EXPLAINED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            topic,
            "a client tried to read an internal topic: refused with TOPIC_AUTHORIZATION_FAILED. \
             Fjord keeps committed offsets in its own store; read them with OffsetFetch \
             (kafka-consumer-groups --describe)"
        );
    }
    ResponseError::TopicAuthorizationFailed
}

/// The error for changing an internal topic: producing to it, creating,
/// growing or deleting it.
pub fn change_refused(topic: &str, change: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidTopicException,
        format!("Topic {topic} is a Kafka internal topic and is not allowed to be {change}."),
    )
}
