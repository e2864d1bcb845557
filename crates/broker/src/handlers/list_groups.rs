//! ListGroups (v0–v5), with state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// Every group here is a classic group.
const GROUP_TYPE: &str = "classic";

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = ctx.api_version;
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    // Cluster/Describe lists every group; without it Kafka lists the groups
    // the principal may describe.
    let every_group = authorization::cluster_allows(broker, ctx, Describe);
    let mut response = ListGroupsResponse::default();
    response.groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| {
            every_group
                || broker
                    .authorizer
                    .authorize(ctx, Describe, ResourceType::Group, &g.group_id)
        })
        .filter(|g| {
            version < 4 || states.is_empty() || states.contains(&g.state.name().to_lowercase())
        })
        .filter(|_| version < 5 || types.is_empty() || types.iter().any(|t| t == GROUP_TYPE))
        .map(|g| {
            let mut out = ListedGroup::default();
            out.group_id = GroupId(StrBytes::from_string(g.group_id));
            out.protocol_type = StrBytes::from_string(g.protocol_type);
            if version >= 4 {
                out.group_state = StrBytes::from_static_str(g.state.name());
            }
            if version >= 5 {
                out.group_type = StrBytes::from_static_str(GROUP_TYPE);
            }
            out
        })
        .collect();
    response
}
