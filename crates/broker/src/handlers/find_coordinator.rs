//! FindCoordinator: the coordinator of a group or transactional id, as
//! the cluster view knows it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType;
use crate::authorization;
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
/// Kafka's messages for GROUP_AUTHORIZATION_FAILED and
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
const GROUP_DENIED_MESSAGE: &str = "Group authorization failed.";
const TRANSACTIONAL_ID_DENIED_MESSAGE: &str = "Transactional Id authorization failed.";
/// Kafka's message for COORDINATOR_NOT_AVAILABLE.
const COORDINATOR_NOT_AVAILABLE_MESSAGE: &str = "The coordinator is not available.";

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    let mut response = FindCoordinatorResponse::default();
    let served = (0..=MAX_KEY_TYPE).contains(&request.key_type);
    // The coordinator's address on the listener the client came in on; a
    // coordinator that does not advertise it is not available to this
    // client, as in Kafka.
    let locate = |key: &str| {
        if !served {
            return Err((ResponseError::InvalidRequest, INVALID_REQUEST_MESSAGE));
        }
        let (resource, denied_message) = if request.key_type == KEY_TYPE_TRANSACTION {
            (
                ResourceType::TransactionalId,
                TRANSACTIONAL_ID_DENIED_MESSAGE,
            )
        } else {
            (ResourceType::Group, GROUP_DENIED_MESSAGE)
        };
        authorization::require(broker, ctx, Describe, resource, key)
            .map_err(|denied| (denied, denied_message))?;
        let key = if request.key_type == KEY_TYPE_TRANSACTION {
            CoordinatorKey::Transaction(key)
        } else {
            CoordinatorKey::Group(key)
        };
        broker
            .cluster
            .coordinator(key)
            .on(ctx.listener.as_str())
            .ok_or((
                ResponseError::CoordinatorNotAvailable,
                COORDINATOR_NOT_AVAILABLE_MESSAGE,
            ))
    };
    if version < 4 {
        match locate(request.key.as_str()) {
            Err((code, message)) => {
                response.error_code = code.code();
                response.error_message = Some(StrBytes::from_static_str(message));
                response.node_id = BrokerId(-1);
                response.port = -1;
            }
            Ok(found) => {
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
                Err((code, message)) => {
                    coordinator.error_code = code.code();
                    coordinator.error_message = Some(StrBytes::from_static_str(message));
                    coordinator.node_id = BrokerId(-1);
                    coordinator.port = -1;
                }
                Ok(found) => {
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
