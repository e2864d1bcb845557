//! A broker with the authorizer on, requests sent as a chosen principal
//! through `api::dispatch` (so the whole-request checks run too), and the
//! error codes an answer carries.

use bytes::Bytes;
use fjord_storage::acls::StoredAcl;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{test_broker_with, TestBroker};
use crate::acl::{AclOperation, ResourceType};
use crate::api::{dispatch, Outcome, Request};
use crate::authorizer::bindings::{PATTERN_LITERAL, PERMISSION_ALLOW};
use crate::request_context::{Principal, RequestContext, SecurityProtocol};

/// The codes that say a request was refused for its principal.
pub(crate) const AUTHORIZATION_CODES: [i16; 5] = [
    ResponseError::TopicAuthorizationFailed.code(),
    ResponseError::GroupAuthorizationFailed.code(),
    ResponseError::ClusterAuthorizationFailed.code(),
    ResponseError::TransactionalIdAuthorizationFailed.code(),
    ResponseError::DelegationTokenAuthorizationFailed.code(),
];

/// The authorizer on, `User:admin` a super user, delegation tokens enabled.
pub(crate) async fn secured_broker() -> TestBroker {
    test_broker_with(|config| {
        config
            .with("authorizer.class.name", "fjord")
            .with("super.users", "User:admin")
            .with("delegation.token.secret.key", "s3cret")
    })
    .await
}

/// A binding of `principal` on a resource.
pub(crate) fn acl(
    principal: &str,
    resource: ResourceType,
    name: &str,
    pattern: i8,
    operation: AclOperation,
    permission: i8,
) -> StoredAcl {
    StoredAcl {
        resource_type: resource.code(),
        resource_name: name.to_owned(),
        pattern_type: pattern,
        principal: principal.to_owned(),
        host: "*".to_owned(),
        operation: operation as i8,
        permission_type: permission,
    }
}

/// Allows `principal` everything on every resource.
pub(crate) fn allow_everything(principal: &str) -> Vec<StoredAcl> {
    use ResourceType::*;
    [
        Topic,
        Group,
        TransactionalId,
        DelegationToken,
        User,
        Cluster,
    ]
    .into_iter()
    .map(|resource| {
        let name = if resource == Cluster {
            "kafka-cluster"
        } else {
            "*"
        };
        acl(
            principal,
            resource,
            name,
            PATTERN_LITERAL,
            AclOperation::All,
            PERMISSION_ALLOW,
        )
    })
    .collect()
}

pub(crate) async fn add_acls(broker: &TestBroker, acls: Vec<StoredAcl>) {
    broker
        .authorizer
        .update(|stored| stored.extend(acls))
        .await
        .expect("ACLs stored");
}

/// A request from `User:user` on a SASL_PLAINTEXT listener (where the
/// token APIs are served).
pub(crate) fn as_user(user: &'static str, key: ApiKey, version: i16) -> RequestContext {
    let mut ctx = RequestContext::for_tests(key, version);
    ctx.security_protocol = SecurityProtocol::SaslPlaintext;
    ctx.principal = Principal::user(StrBytes::from_static_str(user));
    ctx
}

/// The response `request` gets from `user`.
pub(crate) async fn send(
    broker: &TestBroker,
    user: &'static str,
    key: ApiKey,
    version: i16,
    request: Request,
) -> ResponseKind {
    let ctx = as_user(user, key, version);
    match dispatch(broker, &ctx, request).await {
        Outcome::Respond(response) => response,
        Outcome::RespondWithFiles(fetch, _) => ResponseKind::Fetch(fetch),
        Outcome::Authenticated(response, _) | Outcome::FailAuthentication(response) => response,
        other => panic!("{key:?} v{version} as {user}: {other:?}"),
    }
}

pub(crate) fn name(value: &str) -> StrBytes {
    StrBytes::from(value.to_owned())
}

/// One small batch of records.
pub(crate) fn records() -> Bytes {
    fjord_testkit::batches::batch_of_values(
        [Bytes::from_static(b"v")],
        fjord_testkit::batches::now_ms(),
    )
}

/// Every error an answer carries, top-level and per resource (zeros,
/// which say no error, left out).
pub(crate) fn codes(response: &ResponseKind) -> Vec<i16> {
    let mut codes = all_codes(response);
    codes.retain(|c| *c != 0);
    codes
}

fn all_codes(response: &ResponseKind) -> Vec<i16> {
    use ResponseKind as R;
    match response {
        R::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
            .collect(),
        R::Fetch(r) => std::iter::once(r.error_code)
            .chain(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect(),
        R::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        R::Metadata(r) => r.topics.iter().map(|t| t.error_code).collect(),
        R::FindCoordinator(r) => std::iter::once(r.error_code)
            .chain(r.coordinators.iter().map(|c| c.error_code))
            .collect(),
        R::ApiVersions(r) => vec![r.error_code],
        R::CreateTopics(r) => r.topics.iter().map(|t| t.error_code).collect(),
        R::DeleteTopics(r) => r.responses.iter().map(|t| t.error_code).collect(),
        R::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        R::DescribeConfigs(r) => r.results.iter().map(|t| t.error_code).collect(),
        R::CreatePartitions(r) => r.results.iter().map(|t| t.error_code).collect(),
        R::DescribeCluster(r) => vec![r.error_code],
        R::DescribeTopicPartitions(r) => r.topics.iter().map(|t| t.error_code).collect(),
        R::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        R::OffsetFetch(r) => std::iter::once(r.error_code)
            .chain(r.groups.iter().map(|g| g.error_code))
            .chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect(),
        R::JoinGroup(r) => vec![r.error_code],
        R::Heartbeat(r) => vec![r.error_code],
        R::LeaveGroup(r) => vec![r.error_code],
        R::SyncGroup(r) => vec![r.error_code],
        R::DescribeGroups(r) => r.groups.iter().map(|g| g.error_code).collect(),
        R::ListGroups(r) => vec![r.error_code],
        R::DeleteGroups(r) => r.results.iter().map(|g| g.error_code).collect(),
        R::OffsetDelete(r) => std::iter::once(r.error_code)
            .chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect(),
        R::TxnOffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        R::InitProducerId(r) => vec![r.error_code],
        R::AddPartitionsToTxn(r) => std::iter::once(r.error_code)
            .chain(r.results_by_topic_v3_and_below.iter().flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            }))
            .collect(),
        R::AddOffsetsToTxn(r) => vec![r.error_code],
        R::EndTxn(r) => vec![r.error_code],
        R::DescribeProducers(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        R::DescribeTransactions(r) => r.transaction_states.iter().map(|t| t.error_code).collect(),
        R::ListTransactions(r) => vec![r.error_code],
        R::CreateDelegationToken(r) => vec![r.error_code],
        R::RenewDelegationToken(r) => vec![r.error_code],
        R::ExpireDelegationToken(r) => vec![r.error_code],
        R::DescribeDelegationToken(r) => vec![r.error_code],
        R::DescribeAcls(r) => vec![r.error_code],
        R::CreateAcls(r) => r.results.iter().map(|c| c.error_code).collect(),
        R::DeleteAcls(r) => r.filter_results.iter().map(|c| c.error_code).collect(),
        R::SaslHandshake(r) => vec![r.error_code],
        R::SaslAuthenticate(r) => vec![r.error_code],
        R::DescribeUserScramCredentials(r) => std::iter::once(r.error_code)
            .chain(r.results.iter().map(|u| u.error_code))
            .collect(),
        R::AlterUserScramCredentials(r) => r.results.iter().map(|u| u.error_code).collect(),
        R::DescribeClientQuotas(r) => vec![r.error_code],
        R::AlterClientQuotas(r) => r.entries.iter().map(|e| e.error_code).collect(),
        other => panic!("no codes known for {other:?}"),
    }
}

/// How many entries a listing answer holds (None: not a listing).
pub(crate) fn listed(response: &ResponseKind) -> Option<usize> {
    use ResponseKind as R;
    match response {
        R::Metadata(r) => Some(r.topics.len()),
        R::DescribeTopicPartitions(r) => Some(r.topics.len()),
        R::ListGroups(r) => Some(r.groups.len()),
        R::ListTransactions(r) => Some(r.transaction_states.len()),
        R::DescribeDelegationToken(r) => Some(r.tokens.len()),
        R::OffsetFetch(r) => Some(r.topics.len()),
        _ => None,
    }
}
