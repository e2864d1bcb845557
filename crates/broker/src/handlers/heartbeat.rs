//! Heartbeat (v0–v4).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let error = broker.groups.heartbeat(
        &request.group_id,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    let mut response = HeartbeatResponse::default();
    response.error_code = error.map_or(0, |e| e.code());
    response
}
