//! LeaveGroup (v0–v5): one member before v3, a batch from v3.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::broker::Broker;
use crate::groups::LeavingMember;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = ctx.api_version;
    let leaving: Vec<LeavingMember> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            instance_id: None,
        }]
    };
    let errors = broker.groups.leave(&request.group_id, &leaving).await;
    let mut response = LeaveGroupResponse::default();
    if version >= 3 {
        response.members = leaving
            .into_iter()
            .zip(&errors)
            .zip(&request.members)
            .map(|((_, error), asked)| {
                let mut member = MemberResponse::default();
                member.member_id = asked.member_id.clone();
                member.group_instance_id = asked.group_instance_id.clone();
                member.error_code = error.map_or(0, |e| e.code());
                member
            })
            .collect();
    } else {
        response.error_code = errors.first().copied().flatten().map_or(0, |e| e.code());
    }
    response
}
