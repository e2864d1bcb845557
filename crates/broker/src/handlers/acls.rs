//! CreateAcls (30), DescribeAcls (29) and DeleteAcls (31), v1-v3 (every
//! version the codec defines; Kafka 4 removed v0). Without an authorizer
//! each answers SECURITY_DISABLED, as Kafka does. Creating and deleting
//! need ALTER on the cluster, describing DESCRIBE on the cluster
//! (CLUSTER_AUTHORIZATION_FAILED otherwise), checked here since the whole
//! request is answered with that one error.
//!
//! Each request is applied as one store write: valid creations are all
//! stored or (the write failing) none, and every deletion filter sees the
//! bindings as they were before the request.

use std::collections::BTreeMap;

use fjord_storage::acls::StoredAcl;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::acl::{AclOperation, ResourceType};
use crate::authorizer::bindings::{self, Filter, CLUSTER_NAME};
use crate::authorizer::AuthorizerError;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// The filter of a DescribeAclsRequest or a DeleteAclsFilter: two codec
/// types with the same fields.
macro_rules! filter_of {
    ($request:expr) => {{
        let request = $request;
        Filter {
            resource_type: request.resource_type_filter,
            resource_name: request.resource_name_filter.map(|s| s.to_string()),
            pattern_type: request.pattern_type_filter,
            principal: request.principal_filter.map(|s| s.to_string()),
            host: request.host_filter.map(|s| s.to_string()),
            operation: request.operation,
            permission_type: request.permission_type,
        }
    }};
}

/// Why a whole ACL request is refused: its error code and message.
type Refusal = (i16, Option<StrBytes>);

/// SECURITY_DISABLED without an authorizer; CLUSTER_AUTHORIZATION_FAILED
/// without `operation` on the cluster.
fn refusal(broker: &Broker, ctx: &RequestContext, operation: AclOperation) -> Option<Refusal> {
    if !broker.authorizer.enabled() {
        return Some((
            ResponseError::SecurityDisabled.code(),
            Some(StrBytes::from_static_str("No Authorizer is configured.")),
        ));
    }
    if !broker
        .authorizer
        .authorize(ctx, operation, ResourceType::Cluster, CLUSTER_NAME)
    {
        return Some((ResponseError::ClusterAuthorizationFailed.code(), None));
    }
    None
}

fn storage_refusal(e: AuthorizerError) -> Refusal {
    (
        ResponseError::UnknownServerError.code(),
        Some(StrBytes::from(e.to_string())),
    )
}

pub async fn create(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let refused = |(code, message): Refusal, count: usize| {
        CreateAclsResponse::default().with_results(
            (0..count)
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect(),
        )
    };
    let count = request.creations.len();
    if let Some(refusal) = refusal(broker, ctx, AclOperation::Alter) {
        return refused(refusal, count);
    }
    let mut results = Vec::with_capacity(count);
    let mut valid = Vec::new();
    for creation in request.creations {
        let acl = StoredAcl {
            resource_type: creation.resource_type,
            resource_name: creation.resource_name.to_string(),
            pattern_type: creation.resource_pattern_type,
            principal: creation.principal.to_string(),
            host: creation.host.to_string(),
            operation: creation.operation,
            permission_type: creation.permission_type,
        };
        results.push(match bindings::validate(&acl) {
            Ok(()) => {
                valid.push(acl);
                AclCreationResult::default()
            }
            Err(message) => AclCreationResult::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(StrBytes::from(message))),
        });
    }
    if !valid.is_empty() {
        let stored = broker
            .authorizer
            .update(|acls| {
                // Creating a binding that exists already succeeds and
                // stores nothing new.
                for acl in valid {
                    if !acls.contains(&acl) {
                        acls.push(acl);
                    }
                }
            })
            .await;
        if let Err(e) = stored {
            return refused(storage_refusal(e), count);
        }
    }
    CreateAclsResponse::default().with_results(results)
}

pub async fn describe(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let refused = |(code, message): Refusal| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(message)
    };
    if let Some(refusal) = refusal(broker, ctx, AclOperation::Describe) {
        return refused(refusal);
    }
    let filter = filter_of!(request);
    if let Err(message) = filter.validate() {
        return refused((
            ResponseError::InvalidRequest.code(),
            Some(StrBytes::from(message)),
        ));
    }
    let acls = match broker.authorizer.acls() {
        Ok(acls) => acls,
        Err(e) => return refused(storage_refusal(e)),
    };
    // Grouped by resource pattern, as Kafka answers.
    let mut resources: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in acls.iter().filter(|acl| filter.matches(acl)) {
        resources
            .entry((
                acl.resource_type,
                acl.resource_name.clone(),
                acl.pattern_type,
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(StrBytes::from(acl.principal.clone()))
                    .with_host(StrBytes::from(acl.host.clone()))
                    .with_operation(acl.operation)
                    .with_permission_type(acl.permission_type),
            );
    }
    DescribeAclsResponse::default().with_resources(
        resources
            .into_iter()
            .map(|((resource_type, name, pattern_type), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(StrBytes::from(name))
                    .with_pattern_type(pattern_type)
                    .with_acls(acls)
            })
            .collect(),
    )
}

fn matching(acl: &StoredAcl) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type)
        .with_resource_name(StrBytes::from(acl.resource_name.clone()))
        .with_pattern_type(acl.pattern_type)
        .with_principal(StrBytes::from(acl.principal.clone()))
        .with_host(StrBytes::from(acl.host.clone()))
        .with_operation(acl.operation)
        .with_permission_type(acl.permission_type)
}

pub async fn delete(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let count = request.filters.len();
    let refused = |(code, message): Refusal| {
        DeleteAclsResponse::default().with_filter_results(
            (0..count)
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect(),
        )
    };
    if let Some(refusal) = refusal(broker, ctx, AclOperation::Alter) {
        return refused(refusal);
    }
    let filters: Vec<Result<Filter, String>> = request
        .filters
        .into_iter()
        .map(|f| {
            let filter = filter_of!(f);
            filter.validate().map(|()| filter)
        })
        .collect();
    let outcome = broker
        .authorizer
        .update(|acls| {
            // Every filter sees the bindings as they were; a binding two
            // filters match is returned by both.
            let results: Vec<DeleteAclsFilterResult> = filters
                .iter()
                .map(|filter| match filter {
                    Ok(filter) => DeleteAclsFilterResult::default().with_matching_acls(
                        acls.iter()
                            .filter(|a| filter.matches(a))
                            .map(matching)
                            .collect(),
                    ),
                    Err(message) => DeleteAclsFilterResult::default()
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from(message.clone()))),
                })
                .collect();
            acls.retain(|a| !filters.iter().flatten().any(|f| f.matches(a)));
            results
        })
        .await;
    match outcome {
        Ok(results) => DeleteAclsResponse::default().with_filter_results(results),
        Err(e) => refused(storage_refusal(e)),
    }
}

#[cfg(test)]
#[path = "acls_tests.rs"]
mod tests;
