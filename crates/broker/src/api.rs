//! The one table of APIs Fjord serves. Each API is declared once — its key,
//! the versions advertised and accepted, its handler, and what a client
//! must be authorized for — and everything else is generated from that one
//! declaration: the [`APIS`] table that ApiVersions answers from and that
//! frame decoding checks, the [`Request`] enum a frame decodes into (one
//! variant per declared API, nothing else), and [`dispatch`], an exhaustive
//! match over that enum. An API advertised without a handler cannot be
//! written: the declaration that advertises it is the one that names it.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

use crate::acl::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::handlers;
use crate::request_context::RequestContext;

#[path = "api_registry.rs"]
#[macro_use]
mod registry;

pub use registry::{AclCheck, ApiEntry, Authorization, IntoOutcome, Outcome};

use AclOperation::*;
use ResourceType::*;

/// Shorthand for the declarations below.
const fn check(resource: ResourceType, operation: AclOperation) -> AclCheck {
    AclCheck {
        resource,
        operation,
    }
}

/// Authorized once for the request as a whole, before the handler runs.
const fn whole(resource: ResourceType, operation: AclOperation) -> Authorization {
    Authorization {
        request: Some(check(resource, operation)),
        each: &[],
    }
}

/// Authorized by the handler for each resource the request names.
const fn each(checks: &'static [AclCheck]) -> Authorization {
    Authorization {
        request: None,
        each: checks,
    }
}

apis! {
    // Advertised from v0 although v0–v2 are refused per request, as Kafka
    // 4.x does: librdkafka turns compression off when Produce starts above
    // v0 (KAFKA-18659). Transactional produce adds TransactionalId/Write.
    Produce(ProduceRequest) => handlers::produce::answer,
        advertised 0, versions 3..=13,
        authorize each(&[check(Topic, Write)]);
    // Follower fetches would need Cluster/ClusterAction; there are none.
    Fetch(FetchRequest) => handlers::fetch::answer,
        versions 4..=18,
        authorize each(&[check(Topic, Read)]);
    ListOffsets(ListOffsetsRequest) => handlers::list_offsets::handle,
        versions 1..=10,
        authorize each(&[check(Topic, Describe)]);
    // Auto-creation also needs Cluster/Create or Topic/Create on the topic.
    Metadata(MetadataRequest) => handlers::metadata::handle,
        versions 0..=13,
        authorize each(&[check(Topic, Describe), check(Topic, Create)]);
    // Group/Describe for a group key; TransactionalId/Describe for a
    // transaction key.
    FindCoordinator(FindCoordinatorRequest) => handlers::find_coordinator::handle,
        versions 0..=6,
        authorize each(&[check(Group, Describe), check(ResourceType::TransactionalId, Describe)]);
    ApiVersions(ApiVersionsRequest) => handlers::api_versions::handle,
        versions 0..=4,
        authorize Authorization::NONE;
    // Served before authentication on SASL listeners (security/exchange.rs);
    // elsewhere answered ILLEGAL_SASL_STATE, as Kafka's request handler does.
    SaslHandshake(SaslHandshakeRequest) => handlers::sasl_handshake::handle,
        versions 0..=1,
        authorize Authorization::NONE;
    SaslAuthenticate(SaslAuthenticateRequest) => handlers::sasl_authenticate::handle,
        versions 0..=2,
        authorize Authorization::NONE;
    // Cluster/Create allows every topic; otherwise Topic/Create per topic,
    // and Topic/DescribeConfigs to see the created topic's configs.
    CreateTopics(CreateTopicsRequest) => handlers::create_topics::handle,
        versions 2..=7,
        authorize each(&[check(Topic, Create), check(Topic, DescribeConfigs)]);
    // Topic/Describe as well when a topic is named by id.
    DeleteTopics(DeleteTopicsRequest) => handlers::delete_topics::handle,
        versions 1..=6,
        authorize each(&[check(Topic, Delete), check(Topic, Describe)]);
    DeleteRecords(DeleteRecordsRequest) => handlers::delete_records::handle,
        versions 0..=2,
        authorize each(&[check(Topic, Delete)]);
    // By the type of each resource: a broker is the cluster.
    DescribeConfigs(DescribeConfigsRequest) => handlers::describe_configs::handle,
        versions 1..=4,
        authorize each(&[
            check(Topic, DescribeConfigs),
            check(Cluster, DescribeConfigs),
            check(Group, DescribeConfigs),
        ]);
    CreatePartitions(CreatePartitionsRequest) => handlers::create_partitions::handle,
        versions 0..=3,
        authorize each(&[check(Topic, Alter)]);
    DescribeCluster(DescribeClusterRequest) => handlers::describe_cluster::handle,
        versions 0..=2,
        authorize whole(Cluster, Describe);
    DescribeTopicPartitions(DescribeTopicPartitionsRequest) => handlers::describe_topic_partitions::handle,
        versions 0..=0,
        authorize each(&[check(Topic, Describe)]);
    OffsetCommit(OffsetCommitRequest) => handlers::offset_commit::handle,
        versions 2..=9,
        authorize Authorization {
            request: Some(check(Group, Read)),
            each: &[check(Topic, Read)],
        };
    // From v8 a request names several groups, each checked on its own.
    OffsetFetch(OffsetFetchRequest) => handlers::offset_fetch::handle,
        versions 1..=9,
        authorize each(&[check(Group, Describe), check(Topic, Describe)]);
    JoinGroup(JoinGroupRequest) => handlers::join_group::handle,
        versions 0..=9,
        authorize whole(Group, Read);
    Heartbeat(HeartbeatRequest) => handlers::heartbeat::handle,
        versions 0..=4,
        authorize whole(Group, Read);
    LeaveGroup(LeaveGroupRequest) => handlers::leave_group::handle,
        versions 0..=5,
        authorize whole(Group, Read);
    SyncGroup(SyncGroupRequest) => handlers::sync_group::handle,
        versions 0..=5,
        authorize whole(Group, Read);
    DescribeGroups(DescribeGroupsRequest) => handlers::describe_groups::handle,
        versions 0..=6,
        authorize each(&[check(Group, Describe)]);
    // Cluster/Describe lists every group; without it, Kafka lists the
    // groups the principal may describe.
    ListGroups(ListGroupsRequest) => handlers::list_groups::handle,
        versions 0..=5,
        authorize each(&[check(Cluster, Describe), check(Group, Describe)]);
    DeleteGroups(DeleteGroupsRequest) => handlers::delete_groups::handle,
        versions 0..=2,
        authorize each(&[check(Group, Delete)]);
    OffsetDelete(OffsetDeleteRequest) => handlers::offset_delete::handle,
        versions 0..=0,
        authorize Authorization {
            request: Some(check(Group, Delete)),
            each: &[check(Topic, Read)],
        };
    // Every version Kafka 4.1 serves. Kafka checks TransactionalId/Write,
    // then Group/Read (each a whole-request error), then Topic/Read per topic.
    TxnOffsetCommit(TxnOffsetCommitRequest) => handlers::txn_offset_commit::handle,
        versions 0..=5,
        authorize Authorization {
            request: Some(check(ResourceType::TransactionalId, Write)),
            each: &[check(Group, Read), check(Topic, Read)],
        };
    // Every version the codec defines. Kafka authorizes a transactional id
    // for TransactionalId/Write, and a producer without one for
    // Cluster/IdempotentWrite (or Write on any topic).
    InitProducerId(InitProducerIdRequest) => handlers::init_producer_id::handle,
        versions 0..=5,
        authorize each(&[
            check(ResourceType::TransactionalId, Write),
            check(Cluster, IdempotentWrite),
        ]);
    // Every version the codec defines. v0-3 come from a producer:
    // TransactionalId/Write on its id and Topic/Write on each topic; the
    // batched v4+ comes from brokers and needs Cluster/ClusterAction.
    AddPartitionsToTxn(AddPartitionsToTxnRequest) => handlers::add_partitions_to_txn::handle,
        versions 0..=5,
        authorize each(&[
            check(ResourceType::TransactionalId, Write),
            check(Topic, Write),
            check(Cluster, ClusterAction),
        ]);
    AddOffsetsToTxn(AddOffsetsToTxnRequest) => handlers::add_offsets_to_txn::handle,
        versions 0..=4,
        authorize Authorization {
            request: Some(check(ResourceType::TransactionalId, Write)),
            each: &[check(Group, Read)],
        };
    // v5 is transaction version 2 (KIP-890): the epoch is bumped.
    EndTxn(EndTxnRequest) => handlers::end_txn::handle,
        versions 0..=5,
        authorize whole(ResourceType::TransactionalId, Write);
    // Topic/Read per topic (TOPIC_AUTHORIZATION_FAILED for its partitions).
    DescribeProducers(DescribeProducersRequest) => handlers::describe_producers::handle,
        versions 0..=0,
        authorize each(&[check(Topic, Read)]);
    // Kafka answers only the ids the principal may describe
    // (TransactionalId/Describe), with the topics it may describe.
    DescribeTransactions(DescribeTransactionsRequest) => handlers::describe_transactions::handle,
        versions 0..=0,
        authorize each(&[
            check(ResourceType::TransactionalId, Describe),
            check(Topic, Describe),
        ]);
    // Kafka lists only the ids the principal may describe.
    ListTransactions(ListTransactionsRequest) => handlers::list_transactions::handle,
        versions 0..=2,
        authorize each(&[check(ResourceType::TransactionalId, Describe)]);
    // Every version the codec defines (Kafka 4 dropped v0). Refused on
    // PLAINTEXT, one-way SSL and token-authenticated sessions. With ACLs:
    // User/CreateTokens for a token owned by someone else than the requester.
    CreateDelegationToken(CreateDelegationTokenRequest) => handlers::create_delegation_token::handle,
        versions 1..=3,
        authorize each(&[check(User, CreateTokens)]);
    // Only the token's owner and renewers may renew or expire it.
    RenewDelegationToken(RenewDelegationTokenRequest) => handlers::renew_delegation_token::handle,
        versions 1..=2,
        authorize Authorization::NONE;
    ExpireDelegationToken(ExpireDelegationTokenRequest) => handlers::expire_delegation_token::handle,
        versions 1..=2,
        authorize Authorization::NONE;
    // With ACLs Kafka also lists the tokens the principal may describe
    // (DelegationToken/Describe) or whose owner it has User/DescribeTokens on.
    DescribeDelegationToken(DescribeDelegationTokenRequest) => handlers::describe_delegation_token::handle,
        versions 1..=3,
        authorize each(&[check(DelegationToken, Describe), check(User, DescribeTokens)]);
    // Every version the codec defines. Kafka answers a denied request with
    // CLUSTER_AUTHORIZATION_FAILED in each user's result.
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest) => handlers::describe_user_scram_credentials::handle,
        versions 0..=0,
        authorize whole(Cluster, Describe);
    AlterUserScramCredentials(AlterUserScramCredentialsRequest) => handlers::alter_user_scram_credentials::handle,
        versions 0..=0,
        authorize whole(Cluster, Alter);
    // The ACL APIs answer SECURITY_DISABLED without an authorizer. Their
    // one cluster check is made by the handler (handlers/acls.rs), which
    // answers it in each result.
    DescribeAcls(DescribeAclsRequest) => handlers::acls::describe,
        versions 1..=3,
        authorize each(&[check(Cluster, Describe)]);
    CreateAcls(CreateAclsRequest) => handlers::acls::create,
        versions 1..=3,
        authorize each(&[check(Cluster, Alter)]);
    DeleteAcls(DeleteAclsRequest) => handlers::acls::delete,
        versions 1..=3,
        authorize each(&[check(Cluster, Alter)]);
    // Every version the codec defines (Kafka 4.1 serves the same). Denied:
    // the whole request's error, as Kafka answers it.
    DescribeClientQuotas(DescribeClientQuotasRequest) => handlers::describe_client_quotas::handle,
        versions 0..=1,
        authorize whole(Cluster, DescribeConfigs);
    // Denied: CLUSTER_AUTHORIZATION_FAILED in each entity's result.
    AlterClientQuotas(AlterClientQuotasRequest) => handlers::alter_client_quotas::handle,
        versions 0..=1,
        authorize whole(Cluster, AlterConfigs);
}

/// The declaration of `api_key`, if Fjord serves it.
pub fn entry(api_key: i16) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key as i16 == api_key)
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "api_authorization_tests.rs"]
mod authorization_tests;
