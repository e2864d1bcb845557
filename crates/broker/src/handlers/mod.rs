//! One module per API, each with a `handle` function.

pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod find_coordinator;
#[cfg(test)]
mod groups_tests;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
#[cfg(test)]
pub(crate) mod test_support;

/// Kafka's "authorized operations not requested" value.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// With no authorizer every topic operation is allowed: READ, WRITE, CREATE,
/// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (bit = operation code).
pub const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 12);

/// Cluster operations with no authorizer: CREATE, ALTER, DESCRIBE,
/// CLUSTER_ACTION, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE, ALTER_CONFIGS.
pub const ALL_CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
