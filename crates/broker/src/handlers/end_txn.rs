//! EndTxn: commit or abort the producer's transaction. v5 is transaction
//! version 2 (KIP-890): the epoch is bumped and the answer carries the
//! producer id and epoch to continue with. PRODUCER_FENCED reaches clients
//! older than v2 as INVALID_PRODUCER_EPOCH, as Kafka answers them.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::add_partitions_to_txn::PRODUCER_FENCED_SINCE;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::transactions::{as_answered, TxnProducer};

const TRANSACTION_V2_SINCE: i16 = 5;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let version = ctx.api_version;
    let producer = TxnProducer {
        transactional_id: &request.transactional_id,
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let transaction_version = if version >= TRANSACTION_V2_SINCE {
        2
    } else {
        0
    };
    let outcome = broker
        .transactions
        .end(producer, request.committed, transaction_version, now_ms())
        .await;
    let mut response = EndTxnResponse::default();
    match outcome {
        // The producer id and epoch are answered from v5 only (they keep
        // their -1 defaults on an error).
        Ok(next) if version >= TRANSACTION_V2_SINCE => {
            response.producer_id = ProducerId(next.producer_id);
            response.producer_epoch = next.epoch;
        }
        Ok(_) => {}
        Err(code) => {
            response.error_code = as_answered(code, version, PRODUCER_FENCED_SINCE).code();
        }
    }
    response
}
