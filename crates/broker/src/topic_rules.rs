//! Kafka's rules for topic names, partition counts and growth, with the
//! answers Kafka gives when a request breaks them.

use fjord_storage::meta::TopicMeta;
use kafka_protocol::error::ResponseError;

use crate::error::{ApiError, ApiResult};

pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Partitions one request may create, as Kafka's controller caps them: each
/// is a directory and open files, so a request must not ask for millions.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;
/// Topics one Metadata request may auto-create. A request naming 100,000
/// unknown topics created them all (and ran the broker out of file
/// handles); the names past the cap are answered LEADER_NOT_AVAILABLE, the
/// answer Kafka gives for a topic still being created, which every client
/// retries with a fresh Metadata request, so a client that really wants many
/// topics gets them a hundred per round trip.
pub const MAX_TOPICS_AUTO_CREATED_PER_REQUEST: usize = 100;

pub(crate) fn too_many_partitions() -> ApiError {
    ApiError::new(
        ResponseError::InvalidPartitions,
        "Excessively large number of partitions per request.",
    )
}

pub(crate) fn already_exists(name: &str) -> ApiError {
    ApiError::new(
        ResponseError::TopicAlreadyExists,
        format!("Topic '{name}' already exists."),
    )
}

/// Whether a topic may grow to `total` partitions, with Kafka's refusals.
pub(crate) fn check_growth(topic: &TopicMeta, total: i32) -> ApiResult<()> {
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
    Ok(())
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
