//! Produce's transactional check (KIP-890), before a partition's batches
//! are appended: a transactional batch must belong to its producer's open
//! transaction, and that transaction must cover the partition. As Kafka
//! 4.1's `ReplicaManager` with `transaction.partition.verification.enable`
//! (its default): up to v11 the coordinator is asked to verify (a
//! partition not added is INVALID_TXN_STATE up to v10, TRANSACTION_ABORTABLE
//! from v11, which clients know to abort on); from v12 (transaction
//! version 2 clients) the partition is added to the transaction instead.
//!
//! What Kafka closes with its verification guard and Fjord does not: a
//! batch checked here and appended only after its transaction's marker
//! (which a client that waits for its produce answers before EndTxn, as
//! the clients do, never causes).

use bytes::Bytes;
use fjord_storage::batch::BatchView;
use kafka_protocol::error::ResponseError;

use crate::broker::Broker;
use crate::error::ApiError;
use crate::groups::group::now_ms;
use crate::transactions::TxnProducer;

/// Produce v11 and later clients handle TRANSACTION_ABORTABLE.
const ABORTABLE_SINCE: i16 = 11;
/// Produce v12 and later add the partition to the transaction (TV2).
const ADD_PARTITION_SINCE: i16 = 12;
/// The transaction version of a client that adds partitions by producing.
const TRANSACTION_VERSION_2: i16 = 2;

/// The producer of the transactional batches among `records`, if any: all
/// must share one producer id and epoch. A batch that does not parse is
/// left to the append's validation, which refuses the whole set.
fn transactional_producer(records: &Bytes) -> Result<Option<(i64, i16)>, ApiError> {
    let mut rest: &[u8] = records;
    let mut producer = None;
    while let Ok(batch) = BatchView::parse(rest) {
        if batch.is_transactional() {
            let this = (batch.producer_id(), batch.producer_epoch());
            match producer {
                None => producer = Some(this),
                Some(first) if first != this => {
                    return Err(ApiError::new(
                        ResponseError::InvalidProducerIdMapping,
                        "Transactional records contained more than one producer ID",
                    ))
                }
                Some(_) => {}
            }
        }
        rest = &rest[batch.size()..];
    }
    Ok(producer)
}

/// Ok when the batches may be appended to `topic`-`partition` as far as
/// transactions go; otherwise the error this produce version answers.
pub(super) async fn check(
    broker: &Broker,
    version: i16,
    transactional_id: Option<&str>,
    topic: &str,
    partition: i32,
    records: &Bytes,
) -> Result<(), ApiError> {
    let Some((producer_id, epoch)) = transactional_producer(records)? else {
        return Ok(());
    };
    // Kafka refuses transactional records without a transactional id as
    // it refuses an unauthorized one.
    let transactional_id = transactional_id.ok_or_else(|| {
        ApiError::new(
            ResponseError::TransactionalIdAuthorizationFailed,
            "transactional records need the producer's transactional id",
        )
    })?;
    let producer = TxnProducer {
        transactional_id,
        producer_id,
        epoch,
    };
    let tp = (topic.to_string(), partition);
    let outcome = if version >= ADD_PARTITION_SINCE {
        broker
            .transactions
            .add(
                producer,
                vec![tp],
                Vec::new(),
                TRANSACTION_VERSION_2,
                now_ms(),
            )
            .await
    } else {
        let verdicts = broker.transactions.verify(producer, &[tp]).await;
        verdicts
            .into_iter()
            .next()
            .map_or(Err(ResponseError::UnknownServerError), |(_, verdict)| {
                verdict
            })
    };
    outcome.map_err(|code| as_produce_error(code, version))
}

/// A coordinator's answer as Kafka's produce path spells it to a client
/// at `version`.
fn as_produce_error(code: ResponseError, version: i16) -> ApiError {
    let code = match code {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < ABORTABLE_SINCE => {
            ResponseError::InvalidTxnState
        }
        other => other,
    };
    match code {
        ResponseError::InvalidTxnState => {
            ApiError::new(code, "Partition was not added to the transaction")
        }
        // A transaction being completed: retriable, and said in a way
        // older clients retry (NOT_ENOUGH_REPLICAS refreshes no metadata).
        ResponseError::ConcurrentTransactions if version < ADD_PARTITION_SINCE => ApiError::new(
            ResponseError::NotEnoughReplicas,
            "Unable to verify the partition has been added to the transaction. \
             Underlying error: CONCURRENT_TRANSACTIONS",
        ),
        other => ApiError::new(other, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_spelled_per_produce_version() {
        let code = |c, v| as_produce_error(c, v).code();
        let abortable = ResponseError::TransactionAbortable;
        assert_eq!(code(abortable, 10), ResponseError::InvalidTxnState.code());
        assert_eq!(code(abortable, 11), abortable.code());
        let fenced = ResponseError::ProducerFenced;
        assert_eq!(code(fenced, 12), ResponseError::InvalidProducerEpoch.code());
        let concurrent = ResponseError::ConcurrentTransactions;
        assert_eq!(
            code(concurrent, 11),
            ResponseError::NotEnoughReplicas.code()
        );
        assert_eq!(code(concurrent, 12), concurrent.code());
    }
}
