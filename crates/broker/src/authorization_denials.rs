//! Each request type's [`WholeRequest`]: the resource a whole-request check
//! reads and the response Kafka sends when it fails.

use kafka_protocol::messages::alter_client_quotas_response;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::WholeRequest;

/// Request types whose declarations make no whole-request check (the
/// handler checks each resource, or nothing is checked).
macro_rules! no_whole_request_check {
    ($($request:ty),+ $(,)?) => {
        $(impl WholeRequest for $request {})+
    };
}

no_whole_request_check!(
    ProduceRequest,
    FetchRequest,
    ListOffsetsRequest,
    MetadataRequest,
    FindCoordinatorRequest,
    ApiVersionsRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    DeleteRecordsRequest,
    DescribeConfigsRequest,
    CreatePartitionsRequest,
    DescribeTopicPartitionsRequest,
    OffsetFetchRequest,
    DescribeGroupsRequest,
    ListGroupsRequest,
    DeleteGroupsRequest,
    InitProducerIdRequest,
    AddPartitionsToTxnRequest,
    DescribeProducersRequest,
    DescribeTransactionsRequest,
    ListTransactionsRequest,
    CreateDelegationTokenRequest,
    RenewDelegationTokenRequest,
    ExpireDelegationTokenRequest,
    DescribeDelegationTokenRequest,
    DescribeAclsRequest,
    CreateAclsRequest,
    DeleteAclsRequest,
    // Served before authentication, with no checks (Kafka's SASL exchange).
    SaslHandshakeRequest,
    SaslAuthenticateRequest,
);

/// Request types checked on the resource their `field` names, whose denial
/// is their response with nothing but the error code set.
macro_rules! denied_with_error_code {
    ($($request:ty => $response:ty, $field:ident;)+) => {
        $(impl WholeRequest for $request {
            fn resource_name(&self) -> Option<&str> {
                Some(&self.$field)
            }

            fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
                Some(<$response>::default().with_error_code(code).into())
            }
        })+
    };
}

denied_with_error_code!(
    SyncGroupRequest => SyncGroupResponse, group_id;
    HeartbeatRequest => HeartbeatResponse, group_id;
    LeaveGroupRequest => LeaveGroupResponse, group_id;
    OffsetDeleteRequest => OffsetDeleteResponse, group_id;
    AddOffsetsToTxnRequest => AddOffsetsToTxnResponse, transactional_id;
    EndTxnRequest => EndTxnResponse, transactional_id;
);

impl WholeRequest for JoinGroupRequest {
    fn resource_name(&self) -> Option<&str> {
        Some(&self.group_id)
    }

    fn denied(&self, version: i16, code: i16) -> Option<ResponseKind> {
        let mut response = JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1);
        // Before v7 the protocol name is not nullable.
        if version < 7 {
            response.protocol_name = Some(StrBytes::default());
        }
        Some(response.into())
    }
}

/// Kafka answers every partition of a denied commit with the error.
impl WholeRequest for OffsetCommitRequest {
    fn resource_name(&self) -> Option<&str> {
        Some(&self.group_id)
    }

    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        let topics = self
            .topics
            .iter()
            .map(|topic| {
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(
                        topic
                            .partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        Some(OffsetCommitResponse::default().with_topics(topics).into())
    }
}

/// Kafka checks the transactional id first, then the group and topics.
impl WholeRequest for TxnOffsetCommitRequest {
    fn resource_name(&self) -> Option<&str> {
        Some(&self.transactional_id)
    }

    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        let topics = self
            .topics
            .iter()
            .map(|topic| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(
                        topic
                            .partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        Some(
            TxnOffsetCommitResponse::default()
                .with_topics(topics)
                .into(),
        )
    }
}

impl WholeRequest for DescribeClusterRequest {
    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        Some(
            DescribeClusterResponse::default()
                .with_error_code(code)
                .into(),
        )
    }
}

impl WholeRequest for DescribeUserScramCredentialsRequest {
    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        Some(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(code)
                .into(),
        )
    }
}

/// Kafka answers each user named once, deletions then upsertions.
impl WholeRequest for AlterUserScramCredentialsRequest {
    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        let mut users: Vec<&StrBytes> = Vec::new();
        let names = self.deletions.iter().map(|d| &d.name);
        for name in names.chain(self.upsertions.iter().map(|u| &u.name)) {
            if !users.contains(&name) {
                users.push(name);
            }
        }
        let results = users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(user.clone())
                    .with_error_code(code)
            })
            .collect();
        Some(
            AlterUserScramCredentialsResponse::default()
                .with_results(results)
                .into(),
        )
    }
}

impl WholeRequest for DescribeClientQuotasRequest {
    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        Some(
            DescribeClientQuotasResponse::default()
                .with_error_code(code)
                .with_entries(None)
                .into(),
        )
    }
}

/// Kafka answers each entity of the request with the error.
impl WholeRequest for AlterClientQuotasRequest {
    fn denied(&self, _version: i16, code: i16) -> Option<ResponseKind> {
        let entries = self
            .entries
            .iter()
            .map(|entry| {
                alter_client_quotas_response::EntryData::default()
                    .with_error_code(code)
                    .with_entity(
                        entry
                            .entity
                            .iter()
                            .map(|e| {
                                alter_client_quotas_response::EntityData::default()
                                    .with_entity_type(e.entity_type.clone())
                                    .with_entity_name(e.entity_name.clone())
                            })
                            .collect(),
                    )
            })
            .collect();
        Some(
            AlterClientQuotasResponse::default()
                .with_entries(entries)
                .into(),
        )
    }
}
