//! Produce: validate and append record batches, answer per partition.

use futures::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::produce_txn;
use crate::acl::AclOperation::Write;
use crate::acl::ResourceType;
use crate::api::Outcome;
use crate::authorization;
use crate::broker::Broker;
use crate::cluster::{check_leader, NO_EPOCH};
use crate::configs::topic_config;
use crate::error::{ApiError, ApiResult};
use crate::quotas::throttle_ms_i32;
use crate::request_context::RequestContext;
use fjord_storage::meta::TopicMeta;
use fjord_storage::{AppendOutcome, Durability};

/// Produce v13 names topics by id instead of by name.
const TOPIC_ID_VERSION: i16 = 13;

/// Produce as the connection answers it: with acks=0 nothing is sent back,
/// and a failure closes the connection, the only way Kafka has to tell such
/// a producer.
///
/// The request's record bytes count against the sender's
/// `producer_byte_rate` whatever becomes of them, as Kafka counts the
/// request's size; over the quota, the answer carries the throttle.
pub async fn answer(broker: &Broker, ctx: &RequestContext, request: ProduceRequest) -> Outcome {
    let acks = request.acks;
    let bytes: usize = request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    let mut response = handle(broker, ctx, request).await;
    let throttle_ms = throttle_ms_i32(broker.quotas.record_produce(ctx, bytes));
    response.throttle_time_ms = throttle_ms;
    match acks {
        0 if has_errors(&response) => Outcome::Close("acks=0 produce failed"),
        0 => Outcome::Silent { throttle_ms },
        _ => Outcome::Respond(ResponseKind::Produce(response)),
    }
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ProduceRequest,
) -> ProduceResponse {
    let version = ctx.api_version;
    let durability = match request.acks {
        -1 => Some(Durability::Synced),
        0 | 1 => Some(Durability::Written),
        _ => None,
    };
    let transactional_id = request.transactional_id.as_ref().map(|id| id.as_str());
    // Kafka refuses every partition of a transactional produce whose id the
    // principal may not write.
    let transactional_denied = transactional_id.and_then(|id| {
        authorization::require(broker, ctx, Write, ResourceType::TransactionalId, id).err()
    });
    let topics = request.topic_data.into_iter().map(|topic_data| async move {
        let topic = match transactional_denied {
            Some(denied) => Err(denied),
            None if version >= TOPIC_ID_VERSION => {
                authorization::topic_by_id(broker, ctx, Write, topic_data.topic_id)
            }
            None => authorization::topic_by_name(broker, ctx, Write, &topic_data.name),
        };
        let appends = topic_data.partition_data.into_iter().map(|partition| {
            let topic = topic.clone();
            async move {
                let result = match (topic, durability) {
                    (_, None) => Err(ApiError::new(
                        ResponseError::InvalidRequiredAcks,
                        "acks must be -1, 0 or 1",
                    )),
                    (Err(code), _) => Err(ApiError::new(code, code.to_string())),
                    (Ok(topic), Some(durability)) => {
                        let sender = Sender {
                            version,
                            transactional_id,
                        };
                        append(
                            broker,
                            sender,
                            &topic,
                            partition.index,
                            partition.records,
                            durability,
                        )
                        .await
                    }
                };
                partition_response(partition.index, result)
            }
        });
        let mut response = TopicProduceResponse::default();
        response.name = if version >= TOPIC_ID_VERSION {
            TopicName(StrBytes::default())
        } else {
            topic_data.name
        };
        response.topic_id = topic_data.topic_id;
        response.partition_responses = join_all(appends).await;
        response
    });
    let mut response = ProduceResponse::default();
    response.responses = join_all(topics).await;
    response
}

/// True when any partition failed: with acks=0 Kafka closes the connection
/// then, the only way such a producer learns of it.
fn has_errors(response: &ProduceResponse) -> bool {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .any(|p| p.error_code != 0)
}

/// Who sends the batches: the request's version and transactional id.
#[derive(Clone, Copy)]
struct Sender<'a> {
    version: i16,
    transactional_id: Option<&'a str>,
}

async fn append(
    broker: &Broker,
    sender: Sender<'_>,
    topic: &TopicMeta,
    partition: i32,
    records: Option<bytes::Bytes>,
    durability: Durability,
) -> ApiResult<AppendOutcome> {
    let log = broker.topics.writable_partition(&topic.name, partition)?;
    // Produce names no leader epoch: only who leads is checked.
    let leadership =
        check_leader(broker.cluster.as_ref(), topic.id, partition, NO_EPOCH).map_err(|code| {
            ApiError::new(
                code,
                format!(
                    "This server is not the leader for {}-{partition}",
                    topic.name
                ),
            )
        })?;
    let records = records.filter(|r| !r.is_empty()).ok_or_else(|| {
        ApiError::new(
            ResponseError::InvalidRecord,
            "produce request without records",
        )
    })?;
    produce_txn::check(
        broker,
        sender.version,
        sender.transactional_id,
        &topic.name,
        partition,
        &records,
    )
    .await?;
    let in_sync = i64::try_from(leadership.isr.len()).unwrap_or(i64::MAX);
    if durability == Durability::Synced && min_insync_replicas(broker, topic) > in_sync {
        return Err(ApiError::new(
            ResponseError::NotEnoughReplicas,
            format!(
                "min.insync.replicas exceeds the {in_sync} in-sync replica(s) of the partition"
            ),
        ));
    }
    Ok(log.append(records, durability).await?)
}

fn min_insync_replicas(broker: &Broker, topic: &TopicMeta) -> i64 {
    topic_config("min.insync.replicas")
        .and_then(|def| {
            broker
                .topics
                .statics()
                .topic_value(&def, &topic.configs)
                .0?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(1)
}

fn partition_response(index: i32, result: ApiResult<AppendOutcome>) -> PartitionProduceResponse {
    let mut response = PartitionProduceResponse::default();
    response.index = index;
    match result {
        Ok(outcome) => {
            response.base_offset = outcome.base_offset;
            response.log_append_time_ms = outcome.log_append_time;
            response.log_start_offset = outcome.log_start_offset;
        }
        Err(e) => {
            response.error_code = e.code();
            response.base_offset = -1;
            response.log_append_time_ms = -1;
            response.log_start_offset = -1;
            response.error_message = Some(StrBytes::from_string(e.message));
        }
    }
    response
}
