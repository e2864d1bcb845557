//! Workload 12's transactional phase: each connection is one transactional
//! producer (InitProducerId with a transactional id of its own) writing
//! transactions of one pre-encoded batch (1000 records, about 1 MB) to its
//! partitions in turn: AddPartitionsToTxn, Produce acks=all, EndTxn
//! commit, one after the other. EndTxn's round trip is timed alone: it is
//! what a commit adds once the records are acknowledged, free of any
//! client library's scheduling.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::frames::{self, Connection};
use super::produce::{self, RECORDS_PER_BATCH};

/// The last versions before transaction version 2, whose EndTxn bumps the
/// epoch; a client at these versions keeps its epoch across transactions.
const ADD_PARTITIONS_VERSION: i16 = 3;
const END_TXN_VERSION: i16 = 3;
/// Kafka's CONCURRENT_TRANSACTIONS: the previous transaction's markers are
/// still being written; clients retry after a short backoff.
const CONCURRENT_TRANSACTIONS: i16 = 51;
const RETRY_BACKOFF: Duration = Duration::from_millis(1);

pub struct TxnJob<'a> {
    pub topic: &'a str,
    pub partitions: Vec<i32>,
    /// Transactions per partition.
    pub count: usize,
    pub batch: &'a Bytes,
    pub transactional_id: String,
}

/// What one connection's transactions took.
pub struct TxnFigures {
    /// EndTxn round trips, in microseconds.
    pub commits_us: Vec<u64>,
    /// AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS and retried.
    pub retries: u64,
}

pub fn run(connection: &mut Connection, job: &TxnJob<'_>) -> anyhow::Result<TxnFigures> {
    let id = job.transactional_id.as_str();
    let mut frames = produce::produce_frames(job.topic, &job.partitions, -1, Some(id), job.batch)?;
    let producer = produce::init_producer_id(connection, Some(id))?;
    let mut sequences = vec![0i32; job.partitions.len()];
    let mut figures = TxnFigures {
        commits_us: Vec::with_capacity(job.count * job.partitions.len()),
        retries: 0,
    };
    let mut correlation_id = 0i32;
    let mut next_id = || {
        correlation_id = correlation_id.wrapping_add(1);
        correlation_id
    };
    for n in 0..job.count * job.partitions.len() {
        let slot = n % job.partitions.len();
        let partition = job.partitions[slot];
        while !add_partition(connection, job.topic, partition, id, producer, next_id())? {
            figures.retries += 1;
            std::thread::sleep(RETRY_BACKOFF);
        }
        let produce_id = next_id();
        frames::set_correlation_id(&mut frames[slot], produce_id);
        produce::stamp(
            &mut frames[slot],
            job.batch.len(),
            producer,
            sequences[slot],
            true,
        );
        sequences[slot] += RECORDS_PER_BATCH as i32;
        connection.send(&frames[slot])?;
        produce::base_offset(connection, produce_id)?;
        let committing = Instant::now();
        end_txn(connection, id, producer, next_id())?;
        figures
            .commits_us
            .push(committing.elapsed().as_micros() as u64);
    }
    Ok(figures)
}

/// AddPartitionsToTxn for one partition; false when the previous
/// transaction is still completing (to be retried).
fn add_partition(
    connection: &mut Connection,
    topic: &str,
    partition: i32,
    transactional_id: &str,
    producer: (i64, i16),
    correlation_id: i32,
) -> anyhow::Result<bool> {
    let body = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(StrBytes::from_string(transactional_id.into()).into())
        .with_v3_and_below_producer_id(producer.0.into())
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![partition])]);
    let frame = frames::request(
        ApiKey::AddPartitionsToTxn,
        ADD_PARTITIONS_VERSION,
        correlation_id,
        &body,
    )?;
    connection.send(&frame)?;
    let mut answer = connection.answer(
        ApiKey::AddPartitionsToTxn,
        ADD_PARTITIONS_VERSION,
        correlation_id,
    )?;
    let response = AddPartitionsToTxnResponse::decode(&mut answer, ADD_PARTITIONS_VERSION)?;
    let error = response
        .results_by_topic_v3_and_below
        .first()
        .and_then(|t| t.results_by_partition.first())
        .map(|p| p.partition_error_code);
    match error {
        Some(0) => Ok(true),
        Some(CONCURRENT_TRANSACTIONS) => Ok(false),
        other => anyhow::bail!("AddPartitionsToTxn answered {other:?}"),
    }
}

fn end_txn(
    connection: &mut Connection,
    transactional_id: &str,
    producer: (i64, i16),
    correlation_id: i32,
) -> anyhow::Result<()> {
    let body = EndTxnRequest::default()
        .with_transactional_id(StrBytes::from_string(transactional_id.into()).into())
        .with_producer_id(producer.0.into())
        .with_producer_epoch(producer.1)
        .with_committed(true);
    let frame = frames::request(ApiKey::EndTxn, END_TXN_VERSION, correlation_id, &body)?;
    connection.send(&frame)?;
    let mut answer = connection.answer(ApiKey::EndTxn, END_TXN_VERSION, correlation_id)?;
    let response = EndTxnResponse::decode(&mut answer, END_TXN_VERSION)?;
    anyhow::ensure!(
        response.error_code == 0,
        "EndTxn answered error {}",
        response.error_code
    );
    Ok(())
}
