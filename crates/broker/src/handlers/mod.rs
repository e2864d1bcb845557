//! One module per API, each with a `handle` function.

use crate::acl::ResourceType;

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_user_scram_credentials;
pub mod api_versions;
#[cfg(test)]
mod authorization_scenario_tests;
#[cfg(test)]
mod authorization_table_cases;
#[cfg(test)]
mod authorization_table_group_cases;
#[cfg(test)]
mod authorization_table_tests;
#[cfg(test)]
mod authorization_test_support;
#[cfg(test)]
mod client_quotas_tests;
pub mod create_delegation_token;
pub mod create_partitions;
pub mod create_topics;
#[cfg(test)]
mod delegation_token_tests;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_delegation_token;
pub mod describe_groups;
pub mod describe_producers;
#[cfg(test)]
mod describe_producers_tests;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod end_txn;
pub mod expire_delegation_token;
pub mod fetch;
#[cfg(test)]
mod fetch_committed_tests;
#[cfg(test)]
mod fetch_parked_tests;
#[cfg(test)]
mod fetch_tests;
pub mod find_coordinator;
#[cfg(test)]
mod groups_tests;
pub mod heartbeat;
pub mod init_producer_id;
#[cfg(test)]
mod init_producer_id_tests;
#[cfg(test)]
mod internal_topics_tests;
pub mod join_group;
#[cfg(test)]
mod kafka_values_tests;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
#[cfg(test)]
mod log_offsets_tests;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
#[cfg(test)]
mod offset_fetch_tests;
pub mod produce;
mod produce_txn;
#[cfg(test)]
mod produce_txn_tests;
pub mod renew_delegation_token;
pub mod sasl_authenticate;
pub mod sasl_handshake;
#[cfg(test)]
mod scram_credentials_tests;
pub mod sync_group;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod topic_races_tests;
#[cfg(test)]
mod transaction_version_tests;
#[cfg(test)]
mod txn_listing_tests;
#[cfg(test)]
mod txn_markers_tests;
pub mod txn_offset_commit;
#[cfg(test)]
mod txn_offset_commit_tests;
#[cfg(test)]
mod txn_requests_tests;

/// Kafka's "authorized operations not requested" value.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Authorized operations with no authorizer, per resource type (see `acl`).
pub const ALL_TOPIC_OPERATIONS: i32 = ResourceType::Topic.authorized_operations();
pub const ALL_CLUSTER_OPERATIONS: i32 = ResourceType::Cluster.authorized_operations();
pub const ALL_GROUP_OPERATIONS: i32 = ResourceType::Group.authorized_operations();
