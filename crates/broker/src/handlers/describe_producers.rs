//! DescribeProducers (v0): per requested partition, the producers its log
//! knows (id, epoch, last sequence and timestamp, coordinator epoch, first
//! offset of the open transaction), as Kafka's
//! `KafkaApis.handleDescribeProducersRequest` answers them. A topic-wide
//! error is answered for each of the topic's partitions asked, with its
//! message: an invalid name INVALID_TOPIC_EXCEPTION, an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION (Topic/Read, TOPIC_AUTHORIZATION_FAILED, is
//! checked between the two, by the authorizer `api.rs` declares). A
//! partition's own error carries no message, as Kafka's
//! `ReplicaManager.activeProducerState` sets only the code: a partition the
//! topic does not have is UNKNOWN_TOPIC_OR_PARTITION, one this broker does
//! not lead NOT_LEADER_OR_FOLLOWER, a log that cannot be read its storage
//! error (KAFKA_STORAGE_ERROR for a failed disk).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::acl::AclOperation::Read;
use crate::acl::ResourceType::Topic;
use crate::authorization;
use crate::broker::Broker;
use crate::cluster::{check_leader, NO_EPOCH};
use crate::error::ApiError;
use crate::internal_topics::is_internal;
use crate::request_context::RequestContext;
use crate::topic_rules::validate_topic_name;

/// Kafka's `Errors.UNKNOWN_TOPIC_OR_PARTITION.message()`, which its
/// `new ApiError(error)` puts in a topic-wide error.
const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut response = DescribeProducersResponse::default();
    for topic in request.topics {
        let known = validate_topic_name(&topic.name).and_then(|()| {
            authorization::require(broker, ctx, Read, Topic, &topic.name)
                .map_err(|code| ApiError::new(code, code.to_string()))?;
            broker.topics.get(&topic.name).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    UNKNOWN_TOPIC_MESSAGE,
                )
            })
        });
        let mut out = TopicResponse::default();
        for index in topic.partition_indexes {
            let mut partition = PartitionResponse::default();
            partition.partition_index = index;
            match &known {
                Err(err) => {
                    partition.error_code = err.code();
                    partition.error_message = Some(StrBytes::from_string(err.message.clone()));
                }
                Ok(meta) => {
                    match describe(broker, &topic.name, meta.id, meta.partitions, index).await {
                        Ok(producers) => partition.active_producers = producers,
                        Err(code) => partition.error_code = code.code(),
                    }
                }
            }
            out.partitions.push(partition);
        }
        out.name = topic.name;
        response.topics.push(out);
    }
    response
}

/// One partition of a known topic: its producers, or the code to answer.
async fn describe(
    broker: &Broker,
    topic: &str,
    topic_id: Uuid,
    partitions: i32,
    index: i32,
) -> Result<Vec<ProducerState>, ResponseError> {
    if !(0..partitions).contains(&index) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    check_leader(broker.cluster.as_ref(), topic_id, index, NO_EPOCH)?;
    // The offsets topic's transactional producers are the group
    // coordinator's pending offsets, which Fjord keeps in its own store,
    // not in a log with offsets to name: none are described.
    let log = match broker.topics.partition(topic, index) {
        Some(log) => log,
        None if is_internal(topic) => return Ok(Vec::new()),
        None => return Err(ResponseError::NotLeaderOrFollower),
    };
    // Through ApiError for its one mapping of storage errors (and its log
    // line for a failed disk); the message stays here, as in Kafka.
    let producers = log
        .active_producers()
        .await
        .map_err(|err| ApiError::from(err).code)?;
    Ok(producers
        .into_iter()
        .map(|p| {
            let mut state = ProducerState::default();
            state.producer_id = ProducerId(p.producer_id);
            state.producer_epoch = i32::from(p.producer_epoch);
            state.last_sequence = p.last_sequence;
            state.last_timestamp = p.last_timestamp;
            state.coordinator_epoch = p.coordinator_epoch;
            state.current_txn_start_offset = p.current_txn_start_offset;
            state
        })
        .collect())
}
