//! DeleteGroups (v0–v2): only empty groups; their offsets go with them.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::acl::AclOperation::Delete;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut response = DeleteGroupsResponse::default();
    for id in request.groups_names {
        let error = match authorization::require(broker, ctx, Delete, ResourceType::Group, &id) {
            Err(denied) => Some(denied),
            Ok(()) => broker.groups.delete_group(&id).await,
        };
        let mut result = DeletableGroupResult::default();
        result.group_id = id;
        result.error_code = error.map_or(0, |e| e.code());
        response.results.push(result);
    }
    response
}
