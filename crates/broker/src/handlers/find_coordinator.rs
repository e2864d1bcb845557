//! FindCoordinator: with one broker, it coordinates every group and
//! transactional id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::request_context::RequestContext;

/// Key types: 0 group, 1 transaction. Share groups (2) are not served.
const MAX_KEY_TYPE: i8 = 1;

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
    let host = StrBytes::from_string(broker.advertised_host.clone());
    let error = if (0..=MAX_KEY_TYPE).contains(&request.key_type) {
        None
    } else {
        Some(ResponseError::InvalidRequest)
    };
    if version < 4 {
        match error {
            Some(code) => {
                response.error_code = code.code();
                response.error_message = Some(StrBytes::from_static_str(INVALID_REQUEST_MESSAGE));
                response.node_id = BrokerId(-1);
                response.port = -1;
            }
            None => {
                response.error_message = Some(StrBytes::from_static_str(SUCCESS_MESSAGE));
                response.node_id = BrokerId(broker.node_id);
                response.host = host;
                response.port = broker.advertised_port;
            }
        }
        return response;
    }
    response.coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| {
            let mut coordinator = Coordinator::default();
            coordinator.key = key;
            match error {
                Some(code) => {
                    coordinator.error_code = code.code();
                    coordinator.error_message =
                        Some(StrBytes::from_static_str(INVALID_REQUEST_MESSAGE));
                    coordinator.node_id = BrokerId(-1);
                    coordinator.port = -1;
                }
                None => {
                    coordinator.node_id = BrokerId(broker.node_id);
                    coordinator.host = host.clone();
                    coordinator.port = broker.advertised_port;
                }
            }
            coordinator
        })
        .collect();
    response
}
