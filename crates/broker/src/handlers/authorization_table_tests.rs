//! Every API the registry declares, sent by `User:alice` with the
//! authorizer on: without ACLs each is refused with its own authorization
//! error (or answers a listing without what she may not see); with an ACL
//! allowing her everything, none is refused. An API added to the registry
//! without a case here fails the walk.

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;

use super::authorization_test_support::*;
use crate::api::{Request, APIS};

const TOPIC: i16 = ResponseError::TopicAuthorizationFailed.code();
const GROUP: i16 = ResponseError::GroupAuthorizationFailed.code();
const CLUSTER: i16 = ResponseError::ClusterAuthorizationFailed.code();
const TXN: i16 = ResponseError::TransactionalIdAuthorizationFailed.code();
const TOKEN: i16 = ResponseError::DelegationTokenAuthorizationFailed.code();

use kafka_protocol::error::ResponseError;

/// What alice gets without ACLs.
#[derive(Debug, Clone, Copy)]
enum Denied {
    /// Every code the answer carries is this one.
    With(i16),
    /// A listing with nothing in it.
    Hidden,
    /// No ACL check applies: served all the same.
    Unchecked,
}

struct Case {
    key: ApiKey,
    version: i16,
    request: fn() -> Request,
    denied: Denied,
}

fn topic_name(value: &str) -> TopicName {
    TopicName(name(value))
}

fn group_id(value: &str) -> GroupId {
    GroupId(name(value))
}

fn txn_id(value: &str) -> TransactionalId {
    TransactionalId(name(value))
}

fn cases() -> Vec<Case> {
    use Denied::*;
    use Request as Q;
    let case = |key, version, request: fn() -> Request, denied| Case {
        key,
        version,
        request,
        denied,
    };
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
        case(
            ApiKey::OffsetCommit,
            9,
            || {
                Q::OffsetCommit(
                    OffsetCommitRequest::default()
                        .with_group_id(group_id("g"))
                        .with_generation_id_or_member_epoch(-1)
                        .with_topics(vec![OffsetCommitRequestTopic::default()
                            .with_name(topic_name("t"))
                            .with_partitions(vec![OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1)])]),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::OffsetFetch,
            7,
            || {
                Q::OffsetFetch(
                    OffsetFetchRequest::default()
                        .with_group_id(group_id("g"))
                        .with_topics(None),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::OffsetFetch,
            9,
            || {
                Q::OffsetFetch(OffsetFetchRequest::default().with_groups(
                    vec![OffsetFetchRequestGroup::default()
                .with_group_id(group_id("g"))
                .with_topics(None)],
                ))
            },
            With(GROUP),
        ),
        case(
            ApiKey::JoinGroup,
            9,
            || {
                Q::JoinGroup(
                    JoinGroupRequest::default()
                        .with_group_id(group_id("g"))
                        .with_session_timeout_ms(10_000)
                        .with_rebalance_timeout_ms(10_000)
                        .with_protocol_type(name("consumer"))
                        .with_protocols(vec![
                            JoinGroupRequestProtocol::default().with_name(name("range"))
                        ]),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::Heartbeat,
            4,
            || Q::Heartbeat(HeartbeatRequest::default().with_group_id(group_id("g"))),
            With(GROUP),
        ),
        case(
            ApiKey::LeaveGroup,
            5,
            || Q::LeaveGroup(LeaveGroupRequest::default().with_group_id(group_id("g"))),
            With(GROUP),
        ),
        case(
            ApiKey::SyncGroup,
            5,
            || Q::SyncGroup(SyncGroupRequest::default().with_group_id(group_id("g"))),
            With(GROUP),
        ),
        case(
            ApiKey::DescribeGroups,
            5,
            || Q::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![group_id("g")])),
            With(GROUP),
        ),
        case(
            ApiKey::ListGroups,
            4,
            || Q::ListGroups(ListGroupsRequest::default()),
            Hidden,
        ),
        case(
            ApiKey::DeleteGroups,
            2,
            || {
                Q::DeleteGroups(
                    DeleteGroupsRequest::default().with_groups_names(vec![group_id("doomed")]),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::OffsetDelete,
            0,
            || {
                Q::OffsetDelete(
                    OffsetDeleteRequest::default()
                        .with_group_id(group_id("g"))
                        .with_topics(vec![OffsetDeleteRequestTopic::default()
                            .with_name(topic_name("t"))
                            .with_partitions(vec![
                                OffsetDeleteRequestPartition::default().with_partition_index(0)
                            ])]),
                )
            },
            With(GROUP),
        ),
        case(
            ApiKey::TxnOffsetCommit,
            3,
            || {
                Q::TxnOffsetCommit(
                    TxnOffsetCommitRequest::default()
                        .with_transactional_id(txn_id("tx"))
                        .with_group_id(group_id("g"))
                        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                            .with_name(topic_name("t"))
                            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1)])]),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::InitProducerId,
            4,
            || {
                Q::InitProducerId(
                    InitProducerIdRequest::default()
                        .with_transactional_id(Some(txn_id("tx")))
                        .with_transaction_timeout_ms(60_000),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::InitProducerId,
            4,
            || Q::InitProducerId(InitProducerIdRequest::default().with_transactional_id(None)),
            With(CLUSTER),
        ),
        case(
            ApiKey::AddPartitionsToTxn,
            3,
            || {
                Q::AddPartitionsToTxn(
                    AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(txn_id("tx"))
                        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                            .with_name(topic_name("t"))
                            .with_partitions(vec![0])]),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::AddPartitionsToTxn,
            5,
            || {
                Q::AddPartitionsToTxn(AddPartitionsToTxnRequest::default().with_transactions(
                    vec![AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn_id("tx"))
                .with_verify_only(true)],
                ))
            },
            With(CLUSTER),
        ),
        case(
            ApiKey::AddOffsetsToTxn,
            4,
            || {
                Q::AddOffsetsToTxn(
                    AddOffsetsToTxnRequest::default()
                        .with_transactional_id(txn_id("tx"))
                        .with_group_id(group_id("g")),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::EndTxn,
            5,
            || Q::EndTxn(EndTxnRequest::default().with_transactional_id(txn_id("tx"))),
            With(TXN),
        ),
        case(
            ApiKey::DescribeProducers,
            0,
            || {
                Q::DescribeProducers(DescribeProducersRequest::default().with_topics(
                    vec![describe_producers_request::TopicRequest::default()
                .with_name(topic_name("t"))
                .with_partition_indexes(vec![0])],
                ))
            },
            With(TOPIC),
        ),
        case(
            ApiKey::DescribeTransactions,
            0,
            || {
                Q::DescribeTransactions(
                    DescribeTransactionsRequest::default()
                        .with_transactional_ids(vec![txn_id("tx")]),
                )
            },
            With(TXN),
        ),
        case(
            ApiKey::ListTransactions,
            1,
            || Q::ListTransactions(ListTransactionsRequest::default()),
            Hidden,
        ),
        case(
            ApiKey::CreateDelegationToken,
            3,
            || {
                Q::CreateDelegationToken(
                    CreateDelegationTokenRequest::default()
                        .with_owner_principal_type(Some(name("User")))
                        .with_owner_principal_name(Some(name("bob")))
                        .with_max_lifetime_ms(-1),
                )
            },
            With(TOKEN),
        ),
        case(
            ApiKey::RenewDelegationToken,
            2,
            || Q::RenewDelegationToken(RenewDelegationTokenRequest::default()),
            Unchecked,
        ),
        case(
            ApiKey::ExpireDelegationToken,
            2,
            || Q::ExpireDelegationToken(ExpireDelegationTokenRequest::default()),
            Unchecked,
        ),
        case(
            ApiKey::DescribeDelegationToken,
            3,
            || {
                Q::DescribeDelegationToken(
                    DescribeDelegationTokenRequest::default().with_owners(None),
                )
            },
            Hidden,
        ),
        case(
            ApiKey::DescribeAcls,
            3,
            || Q::DescribeAcls(DescribeAclsRequest::default()),
            With(CLUSTER),
        ),
        case(
            ApiKey::CreateAcls,
            3,
            || Q::CreateAcls(CreateAclsRequest::default().with_creations(vec![Default::default()])),
            With(CLUSTER),
        ),
        case(
            ApiKey::DeleteAcls,
            3,
            || Q::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![Default::default()])),
            With(CLUSTER),
        ),
    ]
}

/// Topic `t` with a record, topic `doomed`, group `g` with an offset,
/// transaction `tx`, and a token of bob's: all made by the super user.
async fn populated() -> crate::handlers::test_support::TestBroker {
    let broker = secured_broker().await;
    for topic in ["t", "doomed"] {
        broker
            .topics
            .create(topic, 2, Default::default(), false)
            .await
            .expect("topic created");
    }
    super::test_support::append_records(&broker, "t", 0, 1).await;
    let setup = [
        (ApiKey::OffsetCommit, 9, ApiKey::OffsetCommit),
        (ApiKey::InitProducerId, 4, ApiKey::InitProducerId),
        (
            ApiKey::CreateDelegationToken,
            3,
            ApiKey::CreateDelegationToken,
        ),
    ];
    for (key, version, _) in setup {
        let case = cases()
            .into_iter()
            .find(|c| c.key == key && c.version == version)
            .expect("a setup case");
        let codes = codes(&send(&broker, "admin", key, version, (case.request)()).await);
        assert!(codes.iter().all(|c| *c == 0), "setup {key:?}: {codes:?}");
    }
    broker
}

#[tokio::test]
async fn every_declared_api_refuses_a_principal_without_acls_and_serves_one_with_them() {
    let broker = populated().await;
    let cases = cases();
    for entry in APIS {
        assert!(
            cases.iter().any(|c| c.key == entry.key),
            "{:?} has no case in the authorization table",
            entry.key
        );
    }
    for case in &cases {
        let response = send(&broker, "alice", case.key, case.version, (case.request)()).await;
        let codes = codes(&response);
        let what = format!(
            "{:?} v{} without ACLs: {response:?}",
            case.key, case.version
        );
        match case.denied {
            Denied::With(code) => {
                assert!(
                    !codes.is_empty() && codes.iter().all(|c| *c == code),
                    "{what}"
                );
            }
            Denied::Hidden => {
                assert_eq!(listed(&response), Some(0), "{what}");
                assert!(
                    codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
                    "{what}"
                );
            }
            Denied::Unchecked => {
                assert!(
                    codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
                    "{what}"
                );
            }
        }
    }
    add_acls(&broker, allow_everything("User:alice")).await;
    for case in &cases {
        let response = send(&broker, "alice", case.key, case.version, (case.request)()).await;
        let codes = codes(&response);
        let what = format!("{:?} v{} allowed: {response:?}", case.key, case.version);
        assert!(
            codes.iter().all(|c| !AUTHORIZATION_CODES.contains(c)),
            "{what}"
        );
        if let Denied::Hidden = case.denied {
            assert!(listed(&response).is_some_and(|n| n > 0), "{what}");
        }
    }
}
