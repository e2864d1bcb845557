//! Fetch: whole stored batches per partition, long-polling on appends.
//!
//! Fetch sessions (KIP-227) are answered as a Kafka broker with the session
//! cache disabled answers: every fetch is a full fetch and the session id is 0.
//!
//! Size limits are Kafka's (KafkaApis.handleFetchRequest and
//! ReplicaManager.readFromLog):
//! - the response limit is the request's `max_bytes` capped by the broker's
//!   `fetch.max.bytes`; `max_bytes = 0` is a limit of 0, not "unlimited";
//! - partitions are read in order, each up to min(its `partition_max_bytes`,
//!   what is left of the response limit);
//! - until a partition has returned data, the first batch is returned whole
//!   even if it exceeds both limits, so a consumer always progresses; after
//!   that the limits hold, so a response carries at most
//!   max(response limit, first batch) bytes of records;
//! - a negative limit reaches Kafka's segment read, which refuses it: that
//!   partition gets UNKNOWN_SERVER_ERROR when it has data to read;
//! - `min_bytes` is capped by the response limit.
//!
//! A partition named more than once is answered once, as Kafka's fetch
//! context keys partitions by topic and partition in request order: at its
//! first position, with the fields of its last mention. Response topics group
//! consecutive partitions of the same topic, as Kafka's FetchResponse does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_storage::{PartitionLog, ReadOutcome};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::broker::Broker;
use crate::cluster::check_leader;
use crate::error::ApiError;
use crate::request_context::RequestContext;

/// Fetch v13 names topics by id.
const TOPIC_ID_VERSION: i16 = 13;
const READ_COMMITTED: i8 = 1;

/// One requested partition, resolved to its log (or the error to answer).
pub(super) struct Wanted {
    /// As the response names the topic (empty from v13, which uses ids).
    pub(super) topic: TopicName,
    pub(super) topic_id: Uuid,
    pub(super) partition: i32,
    pub(super) fetch_offset: i64,
    pub(super) max_bytes: i32,
    pub(super) log: Result<Arc<dyn PartitionLog>, ResponseError>,
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, request: FetchRequest) -> FetchResponse {
    let version = ctx.api_version;
    let mut response = FetchResponse::default();
    if request.session_id != 0 {
        // We never hand out sessions, so any session id is unknown.
        response.error_code = ResponseError::FetchSessionIdNotFound.code();
        return response;
    }
    let read_committed = request.isolation_level == READ_COMMITTED;
    let wanted = resolve(broker, &request, version);
    let response_limit = request.max_bytes.min(broker.config.fetch_max_bytes());
    let min_bytes = request.min_bytes.min(response_limit).max(0) as usize;

    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    // Subscribe before reading, so an append between the read and the wait
    // still wakes us.
    let mut watchers: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.log.as_ref().ok().map(|log| log.watch_high_watermark()))
        .collect();
    let answers = loop {
        for watcher in &mut watchers {
            watcher.borrow_and_update();
        }
        // Taken before the read: bytes appended during it count twice,
        // which costs at most one read too many, never a late answer.
        let readable_before = readable_bytes(&wanted);
        let (answers, bytes, any_error) = read_all(&wanted, response_limit, read_committed).await;
        if bytes >= min_bytes || any_error || watchers.is_empty() || Instant::now() >= deadline {
            break answers;
        }
        let needed = (min_bytes - bytes) as u64;
        let woken = wait_for_bytes(&mut watchers, &wanted, readable_before, needed, deadline);
        if !woken.await {
            break read_all(&wanted, response_limit, read_committed).await.0;
        }
    };
    for (want, data) in wanted.into_iter().zip(answers) {
        match response.responses.last_mut() {
            Some(last) if last.topic == want.topic && last.topic_id == want.topic_id => {
                last.partitions.push(data);
            }
            _ => {
                let mut entry = FetchableTopicResponse::default();
                entry.topic = want.topic;
                entry.topic_id = want.topic_id;
                entry.partitions.push(data);
                response.responses.push(entry);
            }
        }
    }
    response
}

/// Each wanted log's `readable_bytes`; `None` if any log cannot tell.
fn readable_bytes(wanted: &[Wanted]) -> Option<Vec<u64>> {
    wanted
        .iter()
        .filter_map(|w| w.log.as_ref().ok())
        .map(|log| log.readable_bytes())
        .collect()
}

/// Parks until enough bytes could have arrived to reach `needed` more than
/// the last read returned: true then (read again), false at the deadline.
/// Wake-ups by appends that bring fewer bytes cost no read: the bytes are
/// counted from the logs' readable-byte counters, as Kafka's DelayedFetch
/// counts them from log positions. Unlike Kafka it does not cap a
/// partition's count at its fetch size: the first batch may exceed it (and
/// is returned whole), and an over-count costs only a read that finds too
/// little and parks again, so the answer is always decided by a real read.
async fn wait_for_bytes(
    watchers: &mut [watch::Receiver<i64>],
    wanted: &[Wanted],
    before: Option<Vec<u64>>,
    needed: u64,
    deadline: Instant,
) -> bool {
    loop {
        let changed =
            futures::future::select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        let Ok((woken, _, _)) = tokio::time::timeout_at(deadline, changed).await else {
            return false;
        };
        // A log that went away (deleted) answers on the next read.
        let (Ok(()), Some(before), Some(now)) = (woken, &before, readable_bytes(wanted)) else {
            return true;
        };
        let arrived: u64 = now
            .iter()
            .zip(before)
            .map(|(now, before)| now.saturating_sub(*before))
            .sum();
        if arrived >= needed {
            return true;
        }
    }
}

/// The distinct partitions of the request in Kafka's order, each with the
/// fields of its last mention, resolved to their logs.
fn resolve(broker: &Broker, request: &FetchRequest, version: i16) -> Vec<Wanted> {
    let by_id = version >= TOPIC_ID_VERSION;
    let mut order: Vec<(usize, &FetchPartition)> = Vec::new();
    let mut seen: HashMap<(&TopicName, Uuid, i32), usize> = HashMap::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        // Before v13 the id is always zero, from v13 the name is empty: the
        // pair is the topic's identity either way.
        for partition in &topic.partitions {
            let key = (&topic.topic, topic.topic_id, partition.partition);
            match seen.get(&key) {
                Some(&at) => order[at] = (topic_index, partition),
                None => {
                    seen.insert(key, order.len());
                    order.push((topic_index, partition));
                }
            }
        }
    }
    order
        .into_iter()
        .map(|(topic_index, partition)| {
            let topic = &request.topics[topic_index];
            let meta = if by_id {
                broker
                    .topics
                    .by_id(topic.topic_id)
                    .ok_or(ResponseError::UnknownTopicId)
            } else {
                broker
                    .topics
                    .get(&topic.topic)
                    .ok_or(ResponseError::UnknownTopicOrPartition)
            };
            let log = meta.and_then(|meta| {
                check_leader(
                    broker.cluster.as_ref(),
                    meta.id,
                    partition.partition,
                    partition.current_leader_epoch,
                )?;
                broker
                    .topics
                    .readable_partition(&meta.name, partition.partition)
            });
            Wanted {
                topic: if by_id {
                    TopicName(StrBytes::default())
                } else {
                    topic.topic.clone()
                },
                topic_id: topic.topic_id,
                partition: partition.partition,
                fetch_offset: partition.fetch_offset,
                max_bytes: partition.partition_max_bytes,
                log,
            }
        })
        .collect()
}

/// Reads every wanted partition once within `response_limit`. Returns the
/// answers, the bytes of records they carry and whether any partition failed.
pub(super) async fn read_all(
    wanted: &[Wanted],
    response_limit: i32,
    read_committed: bool,
) -> (Vec<PartitionData>, usize, bool) {
    let mut answers = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut any_error = false;
    let mut limit = i64::from(response_limit);
    let mut min_one = true;
    for want in wanted {
        let mut data = PartitionData::default();
        data.partition_index = want.partition;
        data.aborted_transactions = if read_committed {
            Some(Vec::new())
        } else {
            None
        };
        data.records = Some(Bytes::new());
        match &want.log {
            Err(code) => {
                data.error_code = code.code();
                data.high_watermark = -1;
                // Kafka answers a partition it does not know with an empty
                // (not null) aborted-transactions list, whatever the isolation.
                data.aborted_transactions = Some(Vec::new());
                any_error = true;
            }
            Ok(log) => {
                let budget = i64::from(want.max_bytes).min(limit);
                match read_partition(log.as_ref(), want.fetch_offset, budget, min_one).await {
                    Ok(read) => {
                        let size = read.records.len();
                        if size > 0 {
                            min_one = false;
                        }
                        total += size;
                        limit = (limit - size as i64).max(0);
                        data.high_watermark = read.offsets.high_watermark;
                        data.last_stable_offset = read.offsets.last_stable_offset;
                        data.log_start_offset = read.offsets.log_start_offset;
                        data.records = Some(read.records);
                    }
                    Err(Failure::NegativeLimit) => {
                        data.error_code = ResponseError::UnknownServerError.code();
                        data.high_watermark = -1;
                        data.last_stable_offset = -1;
                        data.log_start_offset = -1;
                        any_error = true;
                    }
                    Err(Failure::Read(e)) => {
                        // As Kafka: a failed read (offset out of range, log
                        // offline) reports no offsets at all.
                        data.error_code = e.code();
                        data.high_watermark = -1;
                        data.last_stable_offset = -1;
                        data.log_start_offset = -1;
                        data.aborted_transactions = None;
                        any_error = true;
                    }
                }
            }
        }
        // Kafka lifts a negative remaining limit to 0 after every partition,
        // failed or not.
        limit = limit.max(0);
        answers.push(data);
    }
    (answers, total, any_error)
}

enum Failure {
    NegativeLimit,
    Read(ApiError),
}

async fn read_partition(
    log: &dyn PartitionLog,
    offset: i64,
    budget: i64,
    min_one: bool,
) -> Result<ReadOutcome, Failure> {
    let Ok(budget) = usize::try_from(budget) else {
        // Kafka's segment read throws on a negative size once there is a
        // batch to read; at the high watermark it answers empty first.
        let empty = log
            .read(offset, 0, false)
            .await
            .map_err(|e| Failure::Read(e.into()))?;
        if offset < empty.offsets.log_end_offset {
            return Err(Failure::NegativeLimit);
        }
        return Ok(empty);
    };
    log.read(offset, budget, min_one)
        .await
        .map_err(|e| Failure::Read(e.into()))
}
