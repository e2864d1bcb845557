//! SyncGroup (v0–v5): the leader's assignment in, each member's out.

use std::collections::HashMap;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::groups::SyncRequest;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = ctx.api_version;
    let mut assignments = HashMap::new();
    for a in request.assignments {
        assignments.insert(a.member_id.to_string(), a.assignment);
    }
    let sync = SyncRequest {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation: request.generation_id,
        protocol_type: request.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: request.protocol_name.as_ref().map(|s| s.to_string()),
        assignments,
    };
    let outcome = broker.groups.sync(&request.group_id, sync).await;
    let mut response = SyncGroupResponse::default();
    response.error_code = outcome.error.map_or(0, |e| e.code());
    response.assignment = outcome.assignment;
    if version >= 5 {
        response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
        response.protocol_name = outcome.protocol_name.map(StrBytes::from_string);
    }
    response
}
