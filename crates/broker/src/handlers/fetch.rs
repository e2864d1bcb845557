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
//! READ_COMMITTED (isolation level 1) reads stop at the last stable offset
//! and list the aborted transactions overlapping the records returned
//! (empty, not null, when there are none, as Kafka answers); a parked
//! READ_COMMITTED fetch reads again when a last stable offset moved, not at
//! every append (data of an open transaction is not for it).
//!
//! A partition named more than once is answered once, as Kafka's fetch
//! context keys partitions by topic and partition in request order: at its
//! first position, with the fields of its last mention. Response topics group
//! consecutive partitions of the same topic, as Kafka's FetchResponse does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_storage::{FileRange, PartitionLog, Records, RecordsRead};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::acl::AclOperation::Read;
use crate::api::{IntoOutcome, Outcome};
use crate::authorization;
use crate::broker::Broker;
use crate::cluster::check_leader;
use crate::connection::records_placeholder;
use crate::error::ApiError;
use crate::quotas::throttle_ms_i32;
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

/// A Fetch response and the records it leaves in segment files: each
/// partition whose `records` is the connection's placeholder takes the next
/// entry of `files` (partitions in encoding order).
pub struct FetchAnswer {
    pub response: FetchResponse,
    pub files: Vec<Vec<FileRange>>,
}

impl IntoOutcome for FetchAnswer {
    fn into_outcome(self) -> Outcome {
        if self.files.is_empty() {
            Outcome::Respond(self.response.into())
        } else {
            Outcome::RespondWithFiles(self.response, self.files)
        }
    }
}

/// The response with every record byte in it (read from the files): for
/// tests, which look at the records.
#[cfg(test)]
pub async fn handle(broker: &Broker, ctx: &RequestContext, request: FetchRequest) -> FetchResponse {
    let FetchAnswer {
        mut response,
        files,
    } = answer(broker, ctx, request).await;
    let mut files = files.into_iter();
    for topic in &mut response.responses {
        for partition in &mut topic.partitions {
            let placeholder = partition
                .records
                .as_deref()
                .is_some_and(crate::connection::is_records_placeholder);
            if placeholder {
                let ranges = files.next().expect("file records for each placeholder");
                let bytes = fjord_storage::Records::Files(ranges).to_bytes();
                partition.records = Some(bytes.expect("records read"));
            }
        }
    }
    assert!(
        files.next().is_none(),
        "a placeholder for each file records"
    );
    response
}

pub async fn answer(broker: &Broker, ctx: &RequestContext, request: FetchRequest) -> FetchAnswer {
    let mut response = FetchResponse::default();
    if request.session_id != 0 {
        // We never hand out sessions, so any session id is unknown.
        response.error_code = ResponseError::FetchSessionIdNotFound.code();
        return FetchAnswer {
            response,
            files: Vec::new(),
        };
    }
    let read_committed = request.isolation_level == READ_COMMITTED;
    let wanted = resolve(broker, ctx, &request);
    // A fetch returns no more than the consumer quota allows over its window.
    let quota_limit = broker.quotas.fetch_window_bytes(ctx).unwrap_or(i32::MAX);
    let response_limit = request
        .max_bytes
        .min(broker.config.fetch_max_bytes())
        .min(quota_limit);
    let min_bytes = request.min_bytes.min(response_limit).max(0) as usize;

    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    // Subscribe before reading, so an append between the read and the wait
    // still wakes us.
    let mut watchers: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.log.as_ref().ok().map(|log| log.watch_high_watermark()))
        .collect();
    let read = loop {
        for watcher in &mut watchers {
            watcher.borrow_and_update();
        }
        // Taken before the read: bytes appended during it count twice,
        // which costs at most one read too many, never a late answer.
        let before = progress(&wanted, read_committed);
        let read = read_all(&wanted, response_limit, read_committed).await;
        let (bytes, any_error) = (read.bytes, read.any_error);
        if bytes >= min_bytes || any_error || watchers.is_empty() || Instant::now() >= deadline {
            break read;
        }
        let needed = (min_bytes - bytes) as u64;
        let woken = wait_for_bytes(&mut watchers, &wanted, before, needed, deadline);
        if !woken.await {
            break read_all(&wanted, response_limit, read_committed).await;
        }
    };
    let ReadAll {
        answers,
        files,
        bytes,
        ..
    } = read;
    let throttle_ms = throttle_ms_i32(broker.quotas.record_fetch(ctx, bytes));
    if throttle_ms > 0 {
        // Kafka answers a throttled fetch with no data at all (KIP-219).
        response.throttle_time_ms = throttle_ms;
        return FetchAnswer {
            response,
            files: Vec::new(),
        };
    }
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
    FetchAnswer { response, files }
}

/// What a parked fetch compares to learn whether reading again is worth it.
enum Progress {
    /// Each wanted log's `readable_bytes`.
    Bytes(Vec<u64>),
    /// READ_COMMITTED: each wanted log's last stable offset (what it may
    /// read grows only with it).
    LastStable(Vec<i64>),
    /// A log cannot tell: read again at every wake-up.
    Unknown,
}

fn progress(wanted: &[Wanted], read_committed: bool) -> Progress {
    let logs = wanted.iter().filter_map(|w| w.log.as_ref().ok());
    if read_committed {
        return Progress::LastStable(logs.map(|log| log.last_stable_offset()).collect());
    }
    match logs.map(|log| log.readable_bytes()).collect() {
        Some(bytes) => Progress::Bytes(bytes),
        None => Progress::Unknown,
    }
}

/// Whether what arrived between two readings may make up `needed` bytes.
fn enough_arrived(before: &Progress, now: &Progress, needed: u64) -> bool {
    match (before, now) {
        (Progress::Bytes(before), Progress::Bytes(now)) => {
            let arrived: u64 = now
                .iter()
                .zip(before)
                .map(|(now, before)| now.saturating_sub(*before))
                .sum();
            arrived >= needed
        }
        (Progress::LastStable(before), Progress::LastStable(now)) => before != now,
        _ => true,
    }
}

/// Parks until enough bytes could have arrived to reach `needed` more than
/// the last read returned: true then (read again), false at the deadline.
/// Wake-ups by appends that bring fewer bytes cost no read: the bytes are
/// counted from the logs' readable-byte counters, as Kafka's DelayedFetch
/// counts them from log positions. Unlike Kafka it does not cap a
/// partition's count at its fetch size: the first batch may exceed it (and
/// is returned whole), and an over-count costs only a read that finds too
/// little and parks again, so the answer is always decided by a real read.
/// A READ_COMMITTED fetch compares last stable offsets instead: a move of
/// one comes with an append (a marker), which wakes it (see the storage
/// `log::stable` for the one exception, a log start moved by deletion).
async fn wait_for_bytes(
    watchers: &mut [watch::Receiver<i64>],
    wanted: &[Wanted],
    before: Progress,
    needed: u64,
    deadline: Instant,
) -> bool {
    let read_committed = matches!(before, Progress::LastStable(_));
    loop {
        let changed =
            futures::future::select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        let Ok((woken, _, _)) = tokio::time::timeout_at(deadline, changed).await else {
            return false;
        };
        // A log that went away (deleted) answers on the next read.
        if woken.is_err() || enough_arrived(&before, &progress(wanted, read_committed), needed) {
            return true;
        }
    }
}

/// The distinct partitions of the request in Kafka's order, each with the
/// fields of its last mention, resolved to their logs.
fn resolve(broker: &Broker, ctx: &RequestContext, request: &FetchRequest) -> Vec<Wanted> {
    let version = ctx.api_version;
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
                authorization::topic_by_id(broker, ctx, Read, topic.topic_id)
            } else {
                authorization::topic_by_name(broker, ctx, Read, &topic.topic)
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

/// One read of every wanted partition.
pub(super) struct ReadAll {
    /// In `wanted`'s order; records left in files are placeholders.
    pub(super) answers: Vec<PartitionData>,
    /// The records of each placeholder, in order.
    pub(super) files: Vec<Vec<FileRange>>,
    /// Bytes of records the answers carry.
    pub(super) bytes: usize,
    /// Whether any partition failed.
    pub(super) any_error: bool,
}

/// Reads every wanted partition once within `response_limit`.
pub(super) async fn read_all(
    wanted: &[Wanted],
    response_limit: i32,
    read_committed: bool,
) -> ReadAll {
    let mut files = Vec::new();
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
                let offset = want.fetch_offset;
                match read_partition(log.as_ref(), offset, budget, min_one, read_committed).await {
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
                        data.records = Some(match read.records {
                            Records::Bytes(bytes) => bytes,
                            Records::Files(_) if size == 0 => Bytes::new(),
                            Records::Files(ranges) => {
                                files.push(ranges);
                                records_placeholder()
                            }
                        });
                        if read_committed {
                            data.aborted_transactions = Some(
                                read.aborted_transactions
                                    .iter()
                                    .map(|aborted| {
                                        let mut entry = AbortedTransaction::default();
                                        entry.producer_id = ProducerId(aborted.producer_id);
                                        entry.first_offset = aborted.first_offset;
                                        entry
                                    })
                                    .collect(),
                            );
                        }
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
    ReadAll {
        answers,
        files,
        bytes: total,
        any_error,
    }
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
    read_committed: bool,
) -> Result<RecordsRead, Failure> {
    let read = |max_bytes, min_one| async move {
        log.read_records(offset, max_bytes, min_one, read_committed)
            .await
            .map_err(|e| Failure::Read(e.into()))
    };
    let Ok(budget) = usize::try_from(budget) else {
        // Kafka's segment read throws on a negative size once there is a
        // batch to read; at the high watermark it answers empty first.
        let empty = read(0, false).await?;
        if offset < empty.offsets.log_end_offset {
            return Err(Failure::NegativeLimit);
        }
        return Ok(empty);
    };
    read(budget, min_one).await
}
