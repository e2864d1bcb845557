//! The consume side: Fetch requests for stretches of a partition whose
//! batches the produce side wrote, several stretches per connection so that
//! several requests are in flight on it, each stretch following the offsets
//! its answers return. An answer is decoded down to its partition's record
//! bytes (kafka-protocol slices them out without copying); the batches in
//! them are walked by their headers only, never decoded.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::frames::{self, Connection};

/// v12 is the first flexible version; topics are still named (v13 uses ids).
pub const FETCH_VERSION: i16 = 12;

/// A stretch of one partition: `batches` batches from offset `next`.
pub struct Stretch {
    pub partition: i32,
    pub next: i64,
    pub batches: usize,
}

/// Record bytes consumed and batches seen.
#[derive(Default)]
pub struct Consumed {
    pub bytes: u64,
    pub batches: u64,
}

/// Reads every stretch to its end over `connection`, one request of up to
/// `fetch_bytes` per stretch in flight; `batch_len` is the size of every
/// batch written.
pub fn run(
    connection: &mut Connection,
    topic: &str,
    mut stretches: Vec<Stretch>,
    batch_len: usize,
    fetch_bytes: usize,
) -> anyhow::Result<Consumed> {
    let topic = TopicName(StrBytes::from_string(topic.to_string()));
    let mut consumed = Consumed::default();
    let mut in_flight = VecDeque::with_capacity(stretches.len());
    let mut correlation_id = 0i32;
    let mut send = |connection: &mut Connection,
                    in_flight: &mut VecDeque<(i32, usize)>,
                    stretch: &Stretch,
                    index: usize|
     -> anyhow::Result<()> {
        // Never more than the stretch's remaining batches: the first-batch
        // rule aside, no answer reaches into the next stretch.
        let budget = fetch_bytes.min(stretch.batches * batch_len).max(1);
        let body = request(&topic, stretch.partition, stretch.next, budget, 500)?;
        correlation_id = correlation_id.wrapping_add(1);
        let frame = frames::request(ApiKey::Fetch, FETCH_VERSION, correlation_id, &body)?;
        connection.send(&frame)?;
        in_flight.push_back((correlation_id, index));
        Ok(())
    };
    for (index, stretch) in stretches.iter().enumerate() {
        send(connection, &mut in_flight, stretch, index)?;
    }
    while let Some((id, index)) = in_flight.pop_front() {
        let mut body = connection.answer(ApiKey::Fetch, FETCH_VERSION, id)?;
        let response = FetchResponse::decode(&mut body, FETCH_VERSION)?;
        anyhow::ensure!(
            response.error_code == 0,
            "Fetch answered error {}",
            response.error_code
        );
        let partition = response
            .responses
            .first()
            .and_then(|topic| topic.partitions.first())
            .ok_or_else(|| anyhow::anyhow!("a Fetch answer without its partition"))?;
        let stretch = &mut stretches[index];
        anyhow::ensure!(
            partition.error_code == 0,
            "Fetch of partition {} at {} answered error {}",
            stretch.partition,
            stretch.next,
            partition.error_code
        );
        let records = partition.records.as_deref().unwrap_or_default();
        let whole = whole_batches(records)?;
        let next = whole
            .next
            .filter(|next| *next > stretch.next)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "Fetch of partition {} at {} returned no whole batch ({} bytes)",
                    stretch.partition,
                    stretch.next,
                    records.len()
                )
            })?;
        consumed.bytes += whole.bytes as u64;
        consumed.batches += whole.batches as u64;
        stretch.next = next;
        stretch.batches = stretch.batches.saturating_sub(whole.batches);
        if stretch.batches > 0 {
            send(connection, &mut in_flight, stretch, index)?;
        }
    }
    Ok(consumed)
}

/// A Fetch of one partition from `offset`, outside any fetch session.
fn request(
    topic: &TopicName,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    max_wait_ms: i32,
) -> anyhow::Result<FetchRequest> {
    let max_bytes = i32::try_from(max_bytes)?;
    Ok(FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic.clone())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(max_bytes)])]))
}

/// Waits until the broker serves every one of `partitions` (a Fetch at
/// offset 0 answers no error): Kafka answers NOT_LEADER_OR_FOLLOWER for a
/// moment after CreateTopics, until the new partitions' leadership reaches
/// it; librdkafka retries that, and the raw client does it here, untimed.
pub fn wait_until_served(
    connection: &mut Connection,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let topic = TopicName(StrBytes::from_string(topic.to_string()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut correlation_id = 0;
    for partition in 0..partitions {
        loop {
            correlation_id += 1;
            let body = request(&topic, partition, 0, 1, 0)?;
            connection.send(&frames::request(
                ApiKey::Fetch,
                FETCH_VERSION,
                correlation_id,
                &body,
            )?)?;
            let mut answer = connection.answer(ApiKey::Fetch, FETCH_VERSION, correlation_id)?;
            let response = FetchResponse::decode(&mut answer, FETCH_VERSION)?;
            let error = response
                .responses
                .first()
                .and_then(|topic| topic.partitions.first())
                .map_or(response.error_code, |p| p.error_code);
            if error == 0 {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "partition {partition} not served 30 s after its creation (error {error})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Magic-v2 batch header fields this walk reads (byte positions).
const LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const HEADER_BYTES: usize = 61;

struct Whole {
    bytes: usize,
    batches: usize,
    /// The offset after the last whole batch.
    next: Option<i64>,
}

/// The whole batches at the start of `records` (a fetch may end in part of
/// one, which a consumer drops), walked by their headers.
fn whole_batches(records: &[u8]) -> anyhow::Result<Whole> {
    let mut whole = Whole {
        bytes: 0,
        batches: 0,
        next: None,
    };
    while let Some(header) = records.get(whole.bytes..whole.bytes + HEADER_BYTES) {
        let field = |at: usize, n: usize| &header[at..at + n];
        let length = i32::from_be_bytes(field(LENGTH_AT, 4).try_into()?);
        let total = 12 + usize::try_from(length)?;
        if whole.bytes + total > records.len() {
            break;
        }
        anyhow::ensure!(
            header[MAGIC_AT] == 2,
            "a batch of magic {}",
            header[MAGIC_AT]
        );
        let base = i64::from_be_bytes(field(0, 8).try_into()?);
        let last_delta = i32::from_be_bytes(field(LAST_OFFSET_DELTA_AT, 4).try_into()?);
        whole.next = Some(base + i64::from(last_delta) + 1);
        whole.bytes += total;
        whole.batches += 1;
    }
    Ok(whole)
}
