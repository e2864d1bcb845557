//! Enforcing what `api.rs` declares. The whole-request check of an API
//! (its group, its transactional id, the cluster) is made here, once,
//! before any handler runs; the per-resource checks are made by handlers
//! through [`refused`], which gives the error code a denied resource is
//! answered with. Without an authorizer every check passes.

use fjord_storage::meta::TopicMeta;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::acl::{AclOperation, ResourceType};
use crate::api::{Authorization, Outcome};
use crate::authorizer::bindings::CLUSTER_NAME;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// What the generic whole-request check needs from a request type: the
/// resource it addresses and the answer Kafka gives when it is denied
/// (`AbstractRequest.getErrorResponse`). Every declared request type
/// implements it; the defaults suit an API declared without a
/// whole-request check, and the registry's tests fail for an API declared
/// with one whose type leaves `denied` at its default.
pub trait WholeRequest {
    /// The name of the resource the whole-request check is made on, for
    /// resource types other than the cluster (whose name is fixed).
    fn resource_name(&self) -> Option<&str> {
        None
    }

    /// This request answered with `code` wherever its response carries an
    /// error, at `version`.
    fn denied(&self, _version: i16, _code: i16) -> Option<ResponseKind> {
        None
    }
}

/// The error Kafka answers a denied resource of `resource_type` with.
pub const fn denial_error(resource_type: ResourceType) -> ResponseError {
    match resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::Cluster => ResponseError::ClusterAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        // Kafka has no USER_AUTHORIZATION_FAILED: a denied user resource is
        // answered as a denied token operation.
        ResourceType::DelegationToken | ResourceType::User => {
            ResponseError::DelegationTokenAuthorizationFailed
        }
    }
}

/// Ok when the request's principal may perform `operation` on `name`;
/// otherwise the error the resource is answered with.
pub fn require(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> Result<(), ResponseError> {
    if broker
        .authorizer
        .authorize(ctx, operation, resource_type, name)
    {
        Ok(())
    } else {
        Err(denial_error(resource_type))
    }
}

/// [`require`] as the error code a denied resource is answered with.
pub fn refused(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> Option<i16> {
    require(broker, ctx, operation, resource_type, name)
        .err()
        .map(|e| e.code())
}

/// The topic named `name`, if the principal may perform `operation` on it.
/// Kafka checks before it looks: a denied topic is denied whether or not
/// it exists, so that names cannot be probed.
pub fn topic_by_name(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    name: &str,
) -> Result<TopicMeta, ResponseError> {
    require(broker, ctx, operation, ResourceType::Topic, name)?;
    broker
        .topics
        .get(name)
        .ok_or(ResponseError::UnknownTopicOrPartition)
}

/// The topic with id `id`, if the principal may perform `operation` on it.
/// An id is resolved first, as Kafka does (an unknown id says nothing).
pub fn topic_by_id(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    id: Uuid,
) -> Result<TopicMeta, ResponseError> {
    let topic = broker
        .topics
        .by_id(id)
        .ok_or(ResponseError::UnknownTopicId)?;
    require(broker, ctx, operation, ResourceType::Topic, &topic.name)?;
    Ok(topic)
}

/// Whether the request's principal may perform `operation` on the cluster.
pub fn cluster_allows(broker: &Broker, ctx: &RequestContext, operation: AclOperation) -> bool {
    broker
        .authorizer
        .authorize(ctx, operation, ResourceType::Cluster, CLUSTER_NAME)
}

/// The answer to a request its declaration's whole-request check denies, or
/// None when the handler may run.
pub fn check_request<R: WholeRequest>(
    broker: &Broker,
    ctx: &RequestContext,
    authorization: &Authorization,
    request: &R,
) -> Option<Outcome> {
    let check = authorization.request?;
    if !broker.authorizer.enabled() {
        return None;
    }
    let name = match check.resource {
        ResourceType::Cluster => Some(CLUSTER_NAME),
        _ => request.resource_name(),
    };
    let allowed = name.is_some_and(|name| {
        broker
            .authorizer
            .authorize(ctx, check.operation, check.resource, name)
    });
    if allowed {
        return None;
    }
    let code = denial_error(check.resource).code();
    Some(match request.denied(ctx.api_version, code) {
        Some(response) => Outcome::Respond(response),
        // A declaration without its denial: never serve it unchecked.
        None => Outcome::Close("a whole-request check without a denied response"),
    })
}

#[path = "authorization_denials.rs"]
mod denials;
