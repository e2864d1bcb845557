//! AddPartitionsToTxn: v0–v3 from a transactional producer (one
//! transaction); v4+ the batched form brokers send, where a transaction may
//! ask only to verify that its partitions are in the transaction (KIP-890).
//! As Kafka's `KafkaApis`: partitions of unknown topics fail the request
//! (UNKNOWN_TOPIC_OR_PARTITION for them, OPERATION_NOT_ATTEMPTED for the
//! rest), and PRODUCER_FENCED reaches clients older than v2 as
//! INVALID_PRODUCER_EPOCH.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::{ClusterAction, Write};
use crate::acl::ResourceType::{Topic, TransactionalId};
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::transactions::metadata::TopicPartition;
use crate::transactions::{as_answered, TxnProducer};

/// The first version that carries several transactions (from brokers).
const BATCHED_SINCE: i16 = 4;
/// The first version whose clients know PRODUCER_FENCED.
pub(crate) const PRODUCER_FENCED_SINCE: i16 = 2;
/// Clients at v5+ (and EndTxn v5+) speak transaction version 2.
const TRANSACTION_V2_SINCE: i16 = 5;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let version = ctx.api_version;
    let mut response = AddPartitionsToTxnResponse::default();
    if version < BATCHED_SINCE {
        let producer = TxnProducer {
            transactional_id: &request.v3_and_below_transactional_id,
            producer_id: request.v3_and_below_producer_id.0,
            epoch: request.v3_and_below_producer_epoch,
        };
        let verdicts = add(
            broker,
            Some(ctx),
            producer,
            &request.v3_and_below_topics,
            version,
        )
        .await;
        response.results_by_topic_v3_and_below = topic_results(verdicts);
        return response;
    }
    // The batched form comes from brokers verifying a producer's writes.
    if !authorization::cluster_allows(broker, ctx, ClusterAction) {
        response.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return response;
    }
    for transaction in &request.transactions {
        let producer = TxnProducer {
            transactional_id: &transaction.transactional_id,
            producer_id: transaction.producer_id.0,
            epoch: transaction.producer_epoch,
        };
        let verdicts = if transaction.verify_only {
            let partitions = partitions_of(&transaction.topics);
            let verdicts = broker.transactions.verify(producer, &partitions).await;
            verdicts
                .into_iter()
                .map(|(partition, verdict)| (partition, verdict.err()))
                .collect()
        } else {
            add(broker, None, producer, &transaction.topics, version).await
        };
        let mut result = AddPartitionsToTxnResult::default();
        result.transactional_id = transaction.transactional_id.clone();
        result.topic_results = topic_results(verdicts);
        response.results_by_transaction.push(result);
    }
    response
}

fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> Vec<TopicPartition> {
    topics
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(|p| (topic.name.to_string(), *p))
        })
        .collect()
}

/// Adds the partitions (all or none); the error, if any, for each. A
/// producer's request (`producer_request`, before v4) needs
/// TransactionalId/Write and Topic/Write on each topic.
async fn add(
    broker: &Broker,
    producer_request: Option<&RequestContext>,
    producer: TxnProducer<'_>,
    topics: &[AddPartitionsToTxnTopic],
    version: i16,
) -> Vec<(TopicPartition, Option<ResponseError>)> {
    let partitions = partitions_of(topics);
    if let Some(ctx) = producer_request {
        let id = producer.transactional_id;
        if let Err(denied) = authorization::require(broker, ctx, Write, TransactionalId, id) {
            return partitions.into_iter().map(|p| (p, Some(denied))).collect();
        }
    }
    let refused: Vec<Option<ResponseError>> = partitions
        .iter()
        .map(|(topic, p)| {
            producer_request
                .and_then(|ctx| authorization::require(broker, ctx, Write, Topic, topic).err())
                .or_else(|| {
                    broker
                        .topics
                        .partition(topic, *p)
                        .is_none()
                        .then_some(ResponseError::UnknownTopicOrPartition)
                })
        })
        .collect();
    if refused.iter().any(Option::is_some) {
        return partitions
            .into_iter()
            .zip(refused)
            .map(|(partition, refused)| {
                (
                    partition,
                    Some(refused.unwrap_or(ResponseError::OperationNotAttempted)),
                )
            })
            .collect();
    }
    let transaction_version = if version >= TRANSACTION_V2_SINCE {
        2
    } else {
        0
    };
    let outcome = broker
        .transactions
        .add(
            producer,
            partitions.clone(),
            Vec::new(),
            transaction_version,
            now_ms(),
        )
        .await;
    let error = outcome
        .err()
        .map(|code| as_answered(code, version, PRODUCER_FENCED_SINCE));
    partitions.into_iter().map(|p| (p, error)).collect()
}

/// Results grouped by topic, in the order the topics first appear.
fn topic_results(
    verdicts: Vec<(TopicPartition, Option<ResponseError>)>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), error) in verdicts {
        let mut result = AddPartitionsToTxnPartitionResult::default();
        result.partition_index = partition;
        result.partition_error_code = error.map_or(0, |e| e.code());
        match results.iter_mut().find(|r| r.name.as_str() == topic) {
            Some(topic_result) => topic_result.results_by_partition.push(result),
            None => {
                let mut topic_result = AddPartitionsToTxnTopicResult::default();
                topic_result.name = TopicName(StrBytes::from_string(topic));
                topic_result.results_by_partition.push(result);
                results.push(topic_result);
            }
        }
    }
    results
}
