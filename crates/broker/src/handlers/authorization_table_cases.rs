//! The authorization table's cases, part one: the APIs that name topics
//! and the cluster (part two: `authorization_table_group_cases.rs`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;

use super::authorization_test_support::*;
use crate::api::Request;

pub(super) use super::authorization_table_group_cases::group_and_transaction_cases;

pub(super) const TOPIC: i16 = ResponseError::TopicAuthorizationFailed.code();
pub(super) const GROUP: i16 = ResponseError::GroupAuthorizationFailed.code();
pub(super) const CLUSTER: i16 = ResponseError::ClusterAuthorizationFailed.code();
pub(super) const TXN: i16 = ResponseError::TransactionalIdAuthorizationFailed.code();
pub(super) const TOKEN: i16 = ResponseError::DelegationTokenAuthorizationFailed.code();

/// What alice gets without ACLs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Denied {
    /// Every code the answer carries is this one.
    With(i16),
    /// A listing with nothing in it.
    Hidden,
    /// No ACL check applies: served all the same.
    Unchecked,
}

pub(super) struct Case {
    pub(super) key: ApiKey,
    pub(super) version: i16,
    pub(super) request: fn() -> Request,
    pub(super) denied: Denied,
}

pub(super) fn topic_name(value: &str) -> TopicName {
    TopicName(name(value))
}

pub(super) fn group_id(value: &str) -> GroupId {
    GroupId(name(value))
}

pub(super) fn txn_id(value: &str) -> TransactionalId {
    TransactionalId(name(value))
}

/// Every case: the APIs that name topics or the cluster, then the rest.
pub(super) fn cases() -> Vec<Case> {
    let mut cases = topic_and_cluster_cases();
    cases.extend(group_and_transaction_cases());
    cases
}

/// Builds a case.
pub(super) fn case(key: ApiKey, version: i16, request: fn() -> Request, denied: Denied) -> Case {
    Case {
        key,
        version,
        request,
        denied,
    }
}

fn topic_and_cluster_cases() -> Vec<Case> {
    use Denied::*;
    use Request as Q;
    vec![
        case(
            ApiKey::Produce,
            9,
            || {
                Q::Produce(
                    ProduceRequest::default()
                        .with_acks(1)
                        .with_timeout_ms(1000)
                        .with_topic_data(vec![TopicProduceData::default()
                            .with_name(topic_name("t"))
                            .with_partition_data(vec![PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(records()))])]),
                )
            },
            With(TOPIC),
        ),
        case(
            ApiKey::Fetch,
            12,
            || {
                Q::Fetch(FetchRequest::default().with_max_bytes(1 << 20).with_topics(
                    vec![FetchTopic::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::ListOffsets,
            7,
            || {
                Q::ListOffsets(ListOffsetsRequest::default().with_topics(
                    vec![ListOffsetsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::Metadata,
            12,
            || Q::Metadata(MetadataRequest::default().with_topics(None)),
            Hidden,
        ),
        case(
            ApiKey::Metadata,
            12,
            || {
                Q::Metadata(MetadataRequest::default().with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic_name("t"))),
                ])))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::FindCoordinator,
            4,
            || {
                Q::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key_type(0)
                        .with_coordinator_keys(vec![name("g")]),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::FindCoordinator,
            4,
            || {
                Q::FindCoordinator(
                    FindCoordinatorRequest::default()
                        .with_key_type(1)
                        .with_coordinator_keys(vec![name("tx")]),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::ApiVersions,
            3,
            || Q::ApiVersions(ApiVersionsRequest::default()),
            Unchecked,
        ),
        case(
            ApiKey::CreateTopics,
            7,
            || {
                Q::CreateTopics(CreateTopicsRequest::default().with_topics(
                    vec![CreatableTopic::default()
                .with_name(topic_name("created"))
                .with_num_partitions(1)
                .with_replication_factor(1)],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DeleteTopics,
            5,
            || {
                Q::DeleteTopics(
                    DeleteTopicsRequest::default().with_topic_names(vec![topic_name("doomed")]),
                )
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DeleteRecords,
            2,
            || {
                Q::DeleteRecords(DeleteRecordsRequest::default().with_topics(
                    vec![DeleteRecordsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(0)])],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DescribeConfigs,
            4,
            || {
                Q::DescribeConfigs(DescribeConfigsRequest::default().with_resources(
                    vec![DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(name("t"))],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DescribeConfigs,
            4,
            || {
                Q::DescribeConfigs(DescribeConfigsRequest::default().with_resources(
                    vec![DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(name("1"))],
                ))
            },
            With(CLUSTER),
        ),
        case(
            ApiKey::CreatePartitions,
            3,
            || {
                Q::CreatePartitions(CreatePartitionsRequest::default().with_topics(
                    vec![CreatePartitionsTopic::default()
                .with_name(topic_name("t"))
                .with_count(3)],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DescribeCluster,
            1,
            || Q::DescribeCluster(DescribeClusterRequest::default()),
            With(CLUSTER),
        ),
        case(
            ApiKey::DescribeTopicPartitions,
            0,
            || Q::DescribeTopicPartitions(DescribeTopicPartitionsRequest::default()),
            Hidden,
        ),
        // Re-authentication of a live SASL connection: no ACL applies.
        case(
            ApiKey::SaslHandshake,
            1,
            || Q::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(name("PLAIN"))),
            Unchecked,
        ),
        case(
            ApiKey::SaslAuthenticate,
            2,
            || Q::SaslAuthenticate(SaslAuthenticateRequest::default()),
            Unchecked,
        ),
        // Allowed, bob has no credentials: RESOURCE_NOT_FOUND, not a denial.
        case(
            ApiKey::DescribeUserScramCredentials,
            0,
            || {
                Q::DescribeUserScramCredentials(
                    DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                        describe_user_scram_credentials_request::UserName::default()
                            .with_name(name("bob")),
                    ])),
                )
            },
            With(CLUSTER),
        ),
        case(
            ApiKey::AlterUserScramCredentials,
            0,
            || {
                Q::AlterUserScramCredentials(
                    AlterUserScramCredentialsRequest::default().with_deletions(vec![
                        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                            .with_name(name("bob"))
                            .with_mechanism(1),
                    ]),
                )
            },
            With(CLUSTER),
        ),
        // Kafka: Cluster/DescribeConfigs, the whole request's error.
        case(
            ApiKey::DescribeClientQuotas,
            1,
            || {
                Q::DescribeClientQuotas(DescribeClientQuotasRequest::default().with_components(
                    vec![describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(name("user"))
                        .with_match_type(2)],
                ))
            },
            With(CLUSTER),
        ),
        // Kafka: Cluster/AlterConfigs, the error in each entity's result.
        case(
            ApiKey::AlterClientQuotas,
            1,
            || {
                Q::AlterClientQuotas(
                    AlterClientQuotasRequest::default()
                        .with_validate_only(true)
                        .with_entries(vec![alter_client_quotas_request::EntryData::default()
                            .with_entity(vec![alter_client_quotas_request::EntityData::default()
                                .with_entity_type(name("user"))
                                .with_entity_name(Some(name("bob")))])
                            .with_ops(vec![alter_client_quotas_request::OpData::default()
                                .with_key(name("producer_byte_rate"))
                                .with_value(1024.0)])]),
                )
            },
            With(CLUSTER),
        ),
    ]
}
