//! AddOffsetsToTxn: the producer's transaction will commit offsets of this
//! group (TxnOffsetCommit follows). PRODUCER_FENCED reaches clients older
//! than v2 as INVALID_PRODUCER_EPOCH, as Kafka answers them.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::add_partitions_to_txn::PRODUCER_FENCED_SINCE;
use crate::acl::AclOperation::Read;
use crate::acl::ResourceType::Group;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::transactions::{as_answered, TxnProducer};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let producer = TxnProducer {
        transactional_id: &request.transactional_id,
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let mut response = AddOffsetsToTxnResponse::default();
    // The transactional id was checked before the handler.
    if let Some(denied) = authorization::refused(broker, ctx, Read, Group, &request.group_id) {
        response.error_code = denied;
        return response;
    }
    // Kafka takes any group id here, the empty one too.
    let group = request.group_id.to_string();
    let outcome = broker
        .transactions
        .add(producer, Vec::new(), vec![group], 0, now_ms())
        .await;
    if let Err(code) = outcome {
        response.error_code = as_answered(code, ctx.api_version, PRODUCER_FENCED_SINCE).code();
    }
    response
}
