//! ListOffsets: earliest, latest, max timestamp and lookups by time.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::acl::AclOperation::Describe;
use crate::authorization;
use crate::broker::Broker;
use crate::cluster::{check_leader, NO_EPOCH};
use crate::error::{ApiError, ApiResult};
use crate::internal_topics::is_internal;
use crate::request_context::RequestContext;
use fjord_storage::PartitionLog;
use uuid::Uuid;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// Without tiered storage the local log is the whole log.
const EARLIEST_LOCAL: i64 = -4;
/// Tiered-storage positions: nothing is tiered, so there is no such offset.
const LATEST_TIERED: i64 = -5;
const EARLIEST_PENDING_UPLOAD: i64 = -6;
/// The request's isolation level that asks for the last stable offset as
/// the latest (v2+).
const READ_COMMITTED: i8 = 1;
/// Responses carry the leader epoch from v4.
const LEADER_EPOCH_VERSION: i16 = 4;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = ctx.api_version;
    let mut response = ListOffsetsResponse::default();
    let read_committed = request.isolation_level == READ_COMMITTED;
    for topic in request.topics {
        let mut topic_response = ListOffsetsTopicResponse::default();
        let topic_id =
            authorization::topic_by_name(broker, ctx, Describe, &topic.name).map(|t| t.id);
        for partition in topic.partitions {
            let mut answer = ListOffsetsPartitionResponse::default();
            answer.partition_index = partition.partition_index;
            let result = match topic_id {
                Err(code) => Err(ApiError::new(code, "")),
                Ok(id) => {
                    answer_partition(broker, &topic.name, id, &partition, read_committed).await
                }
            };
            match result {
                Ok(((timestamp, offset), leader_epoch)) => {
                    answer.timestamp = timestamp;
                    answer.offset = offset;
                    if version >= LEADER_EPOCH_VERSION && offset >= 0 {
                        answer.leader_epoch = leader_epoch;
                    }
                }
                Err(e) => {
                    answer.error_code = e.code();
                    answer.timestamp = -1;
                    answer.offset = -1;
                }
            }
            topic_response.partitions.push(answer);
        }
        topic_response.name = topic.name;
        response.topics.push(topic_response);
    }
    response
}

/// An internal topic has no log here: it answers as an empty one, so that
/// a consumer goes on to Fetch, whose refusal every client reports (aiokafka
/// only logs a failed ListOffsets and retries it for ever).
/// The (timestamp, offset) found and the leader epoch it was found at.
async fn answer_partition(
    broker: &Broker,
    topic: &str,
    topic_id: Uuid,
    partition: &ListOffsetsPartition,
    read_committed: bool,
) -> ApiResult<((i64, i64), i32)> {
    let index = partition.partition_index;
    let leadership = |epoch| {
        check_leader(broker.cluster.as_ref(), topic_id, index, epoch)
            .map_err(|code| ApiError::new(code, ""))
    };
    match broker.topics.readable_partition(topic, index) {
        Err(ResponseError::TopicAuthorizationFailed) if is_internal(topic) => {
            let epoch = leadership(NO_EPOCH)?.leader_epoch;
            Ok((internal_topic_offsets(partition.timestamp), epoch))
        }
        Err(code) => Err(ApiError::new(code, "")),
        Ok(log) => {
            let epoch = leadership(partition.current_leader_epoch)?.leader_epoch;
            let found = lookup(log.as_ref(), partition.timestamp, read_committed).await?;
            Ok((found, epoch))
        }
    }
}

fn internal_topic_offsets(timestamp: i64) -> (i64, i64) {
    match timestamp {
        LATEST | EARLIEST | EARLIEST_LOCAL => (-1, 0),
        _ => (-1, -1),
    }
}

/// The (timestamp, offset) answered for one partition; -1 where none exists.
/// LATEST is what a consumer of that isolation level can read up to, as in
/// Kafka: the high watermark, or the last stable offset for READ_COMMITTED;
/// a record found by time (or max timestamp) at or past that is not
/// answered either (Kafka's `fetchOffsetForTimestamp`).
pub(super) async fn lookup(
    log: &dyn PartitionLog,
    timestamp: i64,
    read_committed: bool,
) -> ApiResult<(i64, i64)> {
    log.check_online()?;
    let offsets = log.stable_offsets().await?;
    let fetchable = if read_committed {
        offsets.last_stable_offset
    } else {
        offsets.high_watermark
    };
    let found = |found: Option<fjord_storage::TimestampOffset>| match found {
        Some(found) if found.offset < fetchable => (found.timestamp, found.offset),
        _ => (-1, -1),
    };
    Ok(match timestamp {
        LATEST => (-1, fetchable),
        EARLIEST | EARLIEST_LOCAL => (-1, offsets.log_start_offset),
        MAX_TIMESTAMP => found(log.max_timestamp().await?),
        LATEST_TIERED | EARLIEST_PENDING_UPLOAD => (-1, -1),
        t if t >= 0 => found(log.offset_for_timestamp(t).await?),
        _ => {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("unknown ListOffsets timestamp {timestamp}"),
            ))
        }
    })
}
