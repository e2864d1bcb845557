//! JoinGroup (v0–v9): parks until the group's rebalance completes.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::groups::JoinRequest;
use crate::request_context::RequestContext;

fn ms(value: i32) -> Duration {
    Duration::from_millis(value.max(0) as u64)
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = ctx.api_version;
    let session_timeout = ms(request.session_timeout_ms);
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout = if version >= 1 {
        ms(request.rebalance_timeout_ms)
    } else {
        session_timeout
    };
    let join = JoinRequest {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id.to_string(),
        // Kafka shows a member's host as "/" + its address.
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let outcome = broker.groups.join(&request.group_id, join).await;
    let mut response = JoinGroupResponse::default();
    response.error_code = outcome.error.map_or(0, |e| e.code());
    response.generation_id = outcome.generation;
    response.member_id = StrBytes::from_string(outcome.member_id);
    response.leader = StrBytes::from_string(outcome.leader);
    let name = outcome.protocol_name.map(StrBytes::from_string);
    // Before v7 the name is not nullable.
    response.protocol_name = if version >= 7 {
        name
    } else {
        Some(name.unwrap_or_default())
    };
    if version >= 7 {
        response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
    }
    if version >= 9 {
        response.skip_assignment = outcome.skip_assignment;
    }
    response.members = outcome
        .members
        .into_iter()
        .map(|m| {
            let mut member = JoinGroupResponseMember::default();
            member.member_id = StrBytes::from_string(m.member_id);
            if version >= 5 {
                member.group_instance_id = m.instance_id.map(StrBytes::from_string);
            }
            member.metadata = m.metadata;
            member
        })
        .collect();
    response
}
