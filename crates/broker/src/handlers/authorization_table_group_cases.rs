//! The authorization table's cases, part two: groups, transactions,
//! delegation tokens and ACLs.

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;

use super::authorization_table_cases::*;
use super::authorization_test_support::*;
use crate::api::Request;

pub(in crate::handlers) fn group_and_transaction_cases() -> Vec<Case> {
    use Denied::*;
    use Request as Q;
    vec![
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
