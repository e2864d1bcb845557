//! InitProducerId: a producer id and epoch for an idempotent or
//! transactional producer, from the transaction coordinator. The request
//! checks are Kafka's `KafkaApis.handleInitProducerIdRequest`: a producer
//! id and epoch are given together or not at all, and PRODUCER_FENCED
//! (added in v4) reaches older clients as INVALID_PRODUCER_EPOCH.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::acl::AclOperation::{IdempotentWrite, Write};
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::transactions::metadata::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::transactions::{as_answered, ProducerIdAndEpoch};

/// The first version whose clients know PRODUCER_FENCED.
const PRODUCER_FENCED_SINCE: i16 = 4;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let answer = match authorize(broker, ctx, &request) {
        Ok(()) => init(broker, &request).await,
        Err(denied) => Err(denied),
    };
    let mut response = InitProducerIdResponse::default();
    match answer {
        Ok(granted) => {
            response.producer_id = ProducerId(granted.producer_id);
            response.producer_epoch = granted.epoch;
        }
        Err(code) => {
            response.error_code = as_answered(code, ctx.api_version, PRODUCER_FENCED_SINCE).code();
            response.producer_id = ProducerId(NO_PRODUCER_ID);
            response.producer_epoch = NO_PRODUCER_EPOCH;
        }
    }
    response
}

/// Kafka's rule: a transactional producer needs TransactionalId/Write on
/// its id; an idempotent one Cluster/IdempotentWrite, or Write on some topic.
fn authorize(
    broker: &Broker,
    ctx: &RequestContext,
    request: &InitProducerIdRequest,
) -> Result<(), ResponseError> {
    match &request.transactional_id {
        Some(id) => authorization::require(broker, ctx, Write, ResourceType::TransactionalId, id),
        None if authorization::cluster_allows(broker, ctx, IdempotentWrite)
            || broker
                .authorizer
                .allows_any(ctx, Write, ResourceType::Topic) =>
        {
            Ok(())
        }
        None => Err(ResponseError::ClusterAuthorizationFailed),
    }
}

async fn init(
    broker: &Broker,
    request: &InitProducerIdRequest,
) -> Result<ProducerIdAndEpoch, ResponseError> {
    let expected = match (request.producer_id.0, request.producer_epoch) {
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
        (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return Err(ResponseError::InvalidRequest),
        (producer_id, epoch) => Some(ProducerIdAndEpoch { producer_id, epoch }),
    };
    let coordinator = &broker.transactions;
    match &request.transactional_id {
        None => coordinator.new_idempotent_producer().await,
        Some(id) => {
            coordinator
                .init_producer_id(id, request.transaction_timeout_ms, expected, now_ms())
                .await
        }
    }
}
