//! Fetch: whole stored batches per partition, long-polling on appends.
//!
//! Fetch sessions (KIP-227) are answered as a Kafka broker with the session
//! cache disabled answers: every fetch is a full fetch and the session id is 0.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_storage::PartitionLog;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::error::ApiError;

/// Fetch v13 names topics by id.
const TOPIC_ID_VERSION: i16 = 13;
const READ_COMMITTED: i8 = 1;
/// A partition's leader epoch; constant while there is one broker.
const LEADER_EPOCH: i32 = 0;

/// One requested partition, resolved to its log (or the error to answer).
struct Wanted {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    log: Result<Arc<dyn PartitionLog>, ResponseError>,
}

pub async fn handle(broker: &Broker, request: FetchRequest, version: i16) -> FetchResponse {
    let mut response = FetchResponse::default();
    if request.session_id != 0 {
        // We never hand out sessions, so any session id is unknown.
        response.error_code = ResponseError::FetchSessionIdNotFound.code();
        return response;
    }
    let read_committed = request.isolation_level == READ_COMMITTED;
    let mut wanted = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let meta = if version >= TOPIC_ID_VERSION {
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
        let mut entry = FetchableTopicResponse::default();
        entry.topic = if version >= TOPIC_ID_VERSION {
            TopicName(StrBytes::default())
        } else {
            topic.topic.clone()
        };
        entry.topic_id = topic.topic_id;
        response.responses.push(entry);
        for partition in &topic.partitions {
            let log = match &meta {
                Err(code) => Err(*code),
                Ok(_) if partition.current_leader_epoch > LEADER_EPOCH => {
                    Err(ResponseError::UnknownLeaderEpoch)
                }
                Ok(meta) => broker
                    .topics
                    .partition(&meta.name, partition.partition)
                    .ok_or(ResponseError::UnknownTopicOrPartition),
            };
            wanted.push(Wanted {
                topic_index,
                partition: partition.partition,
                fetch_offset: partition.fetch_offset,
                max_bytes: partition.partition_max_bytes.max(0) as usize,
                log,
            });
        }
    }

    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_bytes = if request.max_bytes > 0 {
        request.max_bytes as usize
    } else {
        usize::MAX
    };
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
        let (answers, bytes, any_error) = read_all(&wanted, max_bytes, read_committed).await;
        if bytes >= min_bytes || any_error || watchers.is_empty() || Instant::now() >= deadline {
            break answers;
        }
        let changed =
            futures::future::select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            break read_all(&wanted, max_bytes, read_committed).await.0;
        }
    };
    for (want, data) in wanted.iter().zip(answers) {
        response.responses[want.topic_index].partitions.push(data);
    }
    response
}

/// Reads every wanted partition once. Returns the answers, the bytes of
/// records they carry and whether any partition failed.
async fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    read_committed: bool,
) -> (Vec<PartitionData>, usize, bool) {
    let mut answers = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut any_error = false;
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
                any_error = true;
            }
            Ok(log) => {
                let budget = want.max_bytes.min(max_bytes.saturating_sub(total));
                // Kafka returns the first batch of the response even when it
                // is larger than the limits, so that consumers always progress.
                let min_one = total == 0;
                match log.read(want.fetch_offset, budget, min_one).await {
                    Ok(read) => {
                        total += read.records.len();
                        data.high_watermark = read.high_watermark;
                        data.last_stable_offset = read.high_watermark;
                        data.log_start_offset = read.log_start_offset;
                        data.records = Some(read.records);
                    }
                    Err(e) => {
                        let e = ApiError::from(e);
                        data.error_code = e.code();
                        data.high_watermark = log.high_watermark();
                        data.last_stable_offset = data.high_watermark;
                        data.log_start_offset = log.log_start_offset();
                        any_error = true;
                    }
                }
            }
        }
        answers.push(data);
    }
    (answers, total, any_error)
}
