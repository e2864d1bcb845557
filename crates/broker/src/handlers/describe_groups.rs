//! DescribeGroups (v0–v6).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType::Group;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::GroupState;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.api_version;
    let mut response = DescribeGroupsResponse::default();
    response.groups = request
        .groups
        .iter()
        .map(|id| {
            let mut out = DescribedGroup::default();
            out.group_id = id.clone();
            if let Some(denied) = authorization::refused(broker, ctx, Describe, Group, id) {
                out.error_code = denied;
                return out;
            }
            let Some(group) = broker.groups.describe(id) else {
                out.group_state = StrBytes::from_static_str(GroupState::Dead.name());
                if version >= 6 {
                    // KIP-1043: v6 tells a missing group apart from a dead one.
                    out.error_code = ResponseError::GroupIdNotFound.code();
                    out.error_message = Some(StrBytes::from_string(format!(
                        "Group {} not found.",
                        id.as_str()
                    )));
                } else {
                    set_authorized_operations(broker, ctx, &mut out, &request);
                }
                return out;
            };
            set_authorized_operations(broker, ctx, &mut out, &request);
            out.group_state = StrBytes::from_static_str(group.state.name());
            out.protocol_type = StrBytes::from_string(group.protocol_type);
            out.protocol_data = StrBytes::from_string(group.protocol_data);
            out.members = group
                .members
                .into_iter()
                .map(|m| {
                    let mut member = DescribedGroupMember::default();
                    member.member_id = StrBytes::from_string(m.member_id);
                    if version >= 4 {
                        member.group_instance_id = m.instance_id.map(StrBytes::from_string);
                    }
                    member.client_id = StrBytes::from_string(m.client_id);
                    member.client_host = StrBytes::from_string(m.client_host);
                    member.member_metadata = m.metadata;
                    member.member_assignment = m.assignment;
                    member
                })
                .collect();
            out
        })
        .collect();
    response
}

/// Kafka reports a group's authorized operations only for groups it
/// describes without error (a v6 "not found" keeps the omitted value).
fn set_authorized_operations(
    broker: &Broker,
    ctx: &RequestContext,
    out: &mut DescribedGroup,
    request: &DescribeGroupsRequest,
) {
    if ctx.api_version >= 3 && request.include_authorized_operations {
        out.authorized_operations =
            broker
                .authorizer
                .authorized_operations(ctx, Group, &out.group_id);
    }
}
