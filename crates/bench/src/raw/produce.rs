//! The produce side: one record batch encoded once, wrapped once per
//! partition in a Produce request, and that frame sent again and again
//! (only its correlation id rewritten), with several requests in flight
//! on each connection. An idempotent job also stamps each batch with its
//! producer id, epoch and next sequence, and works its CRC out again, as
//! an idempotent client's batches differ from one request to the next.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::frames::{self, Connection};

/// v9 is the first flexible version; topics are still named (v13 uses ids).
pub const PRODUCE_VERSION: i16 = 9;
/// Requests awaiting an answer on one connection.
const IN_FLIGHT: usize = 4;
pub const RECORDS_PER_BATCH: usize = 1000;
const VALUE_BYTES: usize = 1024;
/// Kafka's default message.max.bytes: a batch must fit in it.
const MAX_BATCH_BYTES: usize = 1_048_588;

/// One uncompressed batch as a producer without idempotence sends it:
/// `RECORDS_PER_BATCH` records of 1 KiB values, no keys. Offsets and
/// sequences both count from 0, which keeps kafka-protocol's encoder to one
/// batch; with no producer id the broker ignores the sequence.
pub fn batch() -> anyhow::Result<Bytes> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let value = Bytes::from(vec![b'x'; VALUE_BYTES]);
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)?;
    anyhow::ensure!(
        buf.len() <= MAX_BATCH_BYTES,
        "the batch is {} bytes, over message.max.bytes",
        buf.len()
    );
    Ok(buf.freeze())
}

/// What one connection sends: `count` requests to each of `partitions`,
/// taking the partitions in turn.
pub struct ProduceJob<'a> {
    pub topic: &'a str,
    pub partitions: Vec<i32>,
    pub count: usize,
    pub acks: i16,
    pub batch: &'a Bytes,
    /// Idempotent: the connection first asks InitProducerId for a producer
    /// id of its own, as an idempotent client does.
    pub idempotent: bool,
}

const INIT_PRODUCER_ID_VERSION: i16 = 4;
/// Where the record batch header's fields sit (Kafka's DefaultRecordBatch).
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
/// A flexible Produce request ends with three empty tagged-field sections
/// after the records: the partition's, the topic's and the request's.
const TAGGED_FIELDS_AFTER_RECORDS: usize = 3;

/// The producer id and epoch the broker gives an idempotent producer, or
/// a transactional one with `transactional_id`.
pub fn init_producer_id(
    connection: &mut Connection,
    transactional_id: Option<&str>,
) -> anyhow::Result<(i64, i16)> {
    let body = InitProducerIdRequest::default()
        .with_transactional_id(transactional_id.map(|id| StrBytes::from_string(id.into()).into()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let frame = frames::request(ApiKey::InitProducerId, INIT_PRODUCER_ID_VERSION, -1, &body)?;
    connection.send(&frame)?;
    let mut answer = connection.answer(ApiKey::InitProducerId, INIT_PRODUCER_ID_VERSION, -1)?;
    let response = InitProducerIdResponse::decode(&mut answer, INIT_PRODUCER_ID_VERSION)?;
    anyhow::ensure!(
        response.error_code == 0,
        "InitProducerId answered error {}",
        response.error_code
    );
    Ok((response.producer_id.0, response.producer_epoch))
}

/// Marks a batch as part of a transaction (Kafka's attributes bit 4).
const TRANSACTIONAL_BIT: i16 = 0x10;

/// Stamps the batch at the end of a Produce frame with the producer and
/// its base sequence (and as transactional, if so), and sets the CRC that
/// covers them.
pub fn stamp(
    frame: &mut [u8],
    batch_len: usize,
    producer: (i64, i16),
    sequence: i32,
    transactional: bool,
) {
    let end = frame.len() - TAGGED_FIELDS_AFTER_RECORDS;
    let batch = &mut frame[end - batch_len..end];
    if transactional {
        let attributes = i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]);
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2]
            .copy_from_slice(&(attributes | TRANSACTIONAL_BIT).to_be_bytes());
    }
    batch[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer.0.to_be_bytes());
    batch[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&producer.1.to_be_bytes());
    batch[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// One Produce frame per partition, each carrying `batch` (at the frame's
/// end, where [`stamp`] finds it).
pub fn produce_frames(
    topic: &str,
    partitions: &[i32],
    acks: i16,
    transactional_id: Option<&str>,
    batch: &Bytes,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let frames: Vec<Vec<u8>> = partitions
        .iter()
        .map(|&partition| {
            let body = ProduceRequest::default()
                .with_transactional_id(
                    transactional_id.map(|id| StrBytes::from_string(id.into()).into()),
                )
                .with_acks(acks)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.clone()))])]);
            frames::request(ApiKey::Produce, PRODUCE_VERSION, 0, &body)
        })
        .collect::<anyhow::Result<_>>()?;
    if let Some(first) = frames.first() {
        let batch_at = first.len() - TAGGED_FIELDS_AFTER_RECORDS - batch.len();
        anyhow::ensure!(
            first[batch_at..][..batch.len()] == batch[..],
            "the batch is not where a Produce v{PRODUCE_VERSION} frame ends"
        );
    }
    Ok(frames)
}

/// Sends the job's requests with up to `IN_FLIGHT` awaiting answers; returns
/// the base offsets the broker gave each batch, per partition of the job.
pub fn run(connection: &mut Connection, job: &ProduceJob<'_>) -> anyhow::Result<Vec<Vec<i64>>> {
    let mut frames = produce_frames(job.topic, &job.partitions, job.acks, None, job.batch)?;
    let producer = if job.idempotent {
        Some(init_producer_id(connection, None)?)
    } else {
        None
    };
    let mut sequences = vec![0i32; job.partitions.len()];
    let mut offsets = vec![Vec::with_capacity(job.count); job.partitions.len()];
    let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
    let total = job.count * job.partitions.len();
    for n in 0..total {
        if in_flight.len() == IN_FLIGHT {
            answer(connection, &mut in_flight, &mut offsets)?;
        }
        let slot = n % job.partitions.len();
        let correlation_id = n as i32;
        frames::set_correlation_id(&mut frames[slot], correlation_id);
        if let Some(producer) = producer {
            stamp(
                &mut frames[slot],
                job.batch.len(),
                producer,
                sequences[slot],
                false,
            );
            sequences[slot] += RECORDS_PER_BATCH as i32;
        }
        connection.send(&frames[slot])?;
        in_flight.push_back((correlation_id, slot));
    }
    while !in_flight.is_empty() {
        answer(connection, &mut in_flight, &mut offsets)?;
    }
    Ok(offsets)
}

/// Reads the oldest request's answer: no error, and the batch's base offset.
fn answer(
    connection: &mut Connection,
    in_flight: &mut VecDeque<(i32, usize)>,
    offsets: &mut [Vec<i64>],
) -> anyhow::Result<()> {
    let (correlation_id, slot) = in_flight
        .pop_front()
        .ok_or_else(|| anyhow::anyhow!("an answer with no request in flight"))?;
    offsets[slot].push(base_offset(connection, correlation_id)?);
    Ok(())
}

/// Reads the answer to the one-partition Produce request `correlation_id`:
/// no error, and the base offset the batch was given.
pub fn base_offset(connection: &mut Connection, correlation_id: i32) -> anyhow::Result<i64> {
    let mut body = connection.answer(ApiKey::Produce, PRODUCE_VERSION, correlation_id)?;
    let response = ProduceResponse::decode(&mut body, PRODUCE_VERSION)?;
    let partition = response
        .responses
        .first()
        .and_then(|topic| topic.partition_responses.first())
        .ok_or_else(|| anyhow::anyhow!("a Produce answer without its partition"))?;
    anyhow::ensure!(
        partition.error_code == 0,
        "Produce to partition {} answered error {}",
        partition.index,
        partition.error_code
    );
    Ok(partition.base_offset)
}
