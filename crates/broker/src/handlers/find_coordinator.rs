//! FindCoordinator: the coordinator of a group or transactional id, as
//! the cluster view knows it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::cluster::CoordinatorKey;
use crate::request_context::RequestContext;

/// Key types: 0 group, 1 transaction. Share groups (2) are not served.
const MAX_KEY_TYPE: i8 = 1;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// v1–v3 carry Kafka's `Errors.message()` even on success, and for NONE
/// (which has no exception) that is the constant's name: "NONE", not null.
const SUCCESS_MESSAGE: &str = "NONE";
/// Kafka's message for INVALID_REQUEST, which an unknown key type gets.
const INVALID_REQUEST_MESSAGE: &str = "This most likely occurs because of a request being \
    malformed by the client library or the message was sent to an incompatible broker. \
    See the broker logs for more details.";

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    let mut response = FindCoordinatorResponse::default();
    let served = (0..=MAX_KEY_TYPE).contains(&request.key_type);
    let locate = |key: &str| {
        served.then(|| {
            let key = if request.key_type == KEY_TYPE_TRANSACTION {
                CoordinatorKey::Transaction(key)
            } else {
                CoordinatorKey::Group(key)
            };
            broker.cluster.coordinator(key)
        })
    };
    if version < 4 {
        match locate(request.key.as_str()) {
            None => {
                response.error_code = ResponseError::InvalidRequest.code();
                response.error_message = Some(StrBytes::from_static_str(INVALID_REQUEST_MESSAGE));
                response.node_id = BrokerId(-1);
                response.port = -1;
            }
            Some(found) => {
                response.error_message = Some(StrBytes::from_static_str(SUCCESS_MESSAGE));
                response.node_id = BrokerId(found.id);
                response.host = StrBytes::from_string(found.host);
                response.port = found.port;
            }
        }
        return response;
    }
    response.coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| {
            let mut coordinator = Coordinator::default();
            match locate(key.as_str()) {
                None => {
                    coordinator.error_code = ResponseError::InvalidRequest.code();
                    coordinator.error_message =
                        Some(StrBytes::from_static_str(INVALID_REQUEST_MESSAGE));
                    coordinator.node_id = BrokerId(-1);
                    coordinator.port = -1;
                }
                Some(found) => {
                    coordinator.node_id = BrokerId(found.id);
                    coordinator.host = StrBytes::from_string(found.host);
                    coordinator.port = found.port;
                }
            }
            coordinator.key = key;
            coordinator
        })
        .collect();
    response
}
