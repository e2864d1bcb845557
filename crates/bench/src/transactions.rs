//! Workload 11: workload 10's load (8 idempotent producers, acks=all, 16
//! partitions) written in transactions of 100 records, each committed.
//! Reports throughput beside workload 10 and what a commit takes: the
//! records are flushed first (commit_transaction would flush them itself),
//! then `commit_transaction` is timed alone, so its latency is the EndTxn
//! round trip with the markers the broker writes before answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use serde_json::{json, Value};

use crate::client;
use crate::stats::{gb, mb_per_s, per_s, Latencies};
use crate::workloads::{join_all, round, round3, ProduceSpec};

const END_TXN: i16 = 26;
const ADD_PARTITIONS_TO_TXN: i16 = 24;
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The API keys the broker advertises, from a raw ApiVersions v0 request
/// (the version every broker answers).
pub fn advertised_api_keys(bootstrap: &str) -> anyhow::Result<Vec<i16>> {
    let client_id = b"fjord-bench";
    let mut body = Vec::new();
    body.extend(18i16.to_be_bytes()); // ApiVersions
    body.extend(0i16.to_be_bytes()); // version 0
    body.extend(1i32.to_be_bytes()); // correlation id
    body.extend((client_id.len() as i16).to_be_bytes());
    body.extend(client_id);
    let mut stream = TcpStream::connect(bootstrap)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&(body.len() as i32).to_be_bytes())?;
    stream.write_all(&body)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut answer = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut answer)?;
    let field = |at: usize, n: usize| -> anyhow::Result<&[u8]> {
        answer
            .get(at..at + n)
            .ok_or_else(|| anyhow::anyhow!("ApiVersions answer cut short at byte {at}"))
    };
    let error = i16::from_be_bytes(field(4, 2)?.try_into()?);
    anyhow::ensure!(error == 0, "ApiVersions answered error {error}");
    let count = i32::from_be_bytes(field(6, 4)?.try_into()?).max(0) as usize;
    (0..count)
        .map(|i| Ok(i16::from_be_bytes(field(10 + 6 * i, 2)?.try_into()?)))
        .collect()
}

/// Why the broker cannot run transactions, or None when it advertises them.
pub fn refusal(bootstrap: &str) -> anyhow::Result<Option<String>> {
    let keys = advertised_api_keys(bootstrap)?;
    let missing: Vec<&str> = [
        (ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn"),
        (END_TXN, "EndTxn"),
    ]
    .into_iter()
    .filter(|(key, _)| !keys.contains(key))
    .map(|(_, name)| name)
    .collect();
    Ok((!missing.is_empty()).then(|| {
        format!(
            "the broker does not advertise {}: no transactions to measure",
            missing.join(", ")
        )
    }))
}

pub struct TransactionFigures {
    pub bytes: u64,
    pub records: u64,
    pub transactions: u64,
    pub elapsed: Duration,
    pub commits: Latencies,
}

/// Produces `spec.records` in transactions of `per_transaction` records,
/// each producer with its own transactional id.
pub fn produce(
    bootstrap: &str,
    spec: &ProduceSpec<'_>,
    per_transaction: u64,
) -> anyhow::Result<TransactionFigures> {
    client::create_topic(bootstrap, spec.topic, spec.partitions)?;
    let transactions_per_producer = spec.records / spec.producers as u64 / per_transaction;
    let start = Instant::now();
    let results: Vec<anyhow::Result<Vec<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.producers)
            .map(|p| {
                scope.spawn(move || -> anyhow::Result<Vec<u64>> {
                    let id = format!("{}-txn-{p}", spec.topic);
                    let producer = client::producer_with(
                        bootstrap,
                        &spec.settings,
                        &[("transactional.id", id.as_str())],
                    )?;
                    producer.init_transactions(STEP_TIMEOUT)?;
                    let value = vec![b'x'; spec.value_bytes];
                    let mut commits_us = Vec::with_capacity(transactions_per_producer as usize);
                    for t in 0..transactions_per_producer {
                        producer.begin_transaction()?;
                        for i in 0..per_transaction {
                            let n = (t * per_transaction + i) * spec.producers as u64 + p as u64;
                            let partition = (n % spec.partitions as u64) as i32;
                            client::send(
                                &producer,
                                spec.topic,
                                partition,
                                &n.to_be_bytes(),
                                &value,
                            )?;
                        }
                        client::wait_for_deliveries(&producer, STEP_TIMEOUT)?;
                        let committing = Instant::now();
                        producer.commit_transaction(STEP_TIMEOUT)?;
                        commits_us.push(committing.elapsed().as_micros() as u64);
                    }
                    client::drain_all(&producer, transactions_per_producer * per_transaction)?;
                    Ok(commits_us)
                })
            })
            .collect();
        join_all(handles, "producer")
    });
    let elapsed = start.elapsed();
    let mut commits = Vec::new();
    for result in results {
        commits.extend(result?);
    }
    let transactions = transactions_per_producer * spec.producers as u64;
    let records = transactions * per_transaction;
    Ok(TransactionFigures {
        bytes: records * spec.value_bytes as u64,
        records,
        transactions,
        elapsed,
        commits: Latencies::new(commits),
    })
}

pub fn json_row(name: &str, figures: &TransactionFigures) -> Value {
    json!({
        "workload": name,
        "records": figures.records,
        "transactions": figures.transactions,
        "gb": round3(gb(figures.bytes)),
        "mb_per_s": round(mb_per_s(figures.bytes, figures.elapsed)),
        "records_per_s": round(per_s(figures.records, figures.elapsed)),
        "transactions_per_s": round(per_s(figures.transactions, figures.elapsed)),
        "commit_p50_ms": round3(figures.commits.percentile_ms(50.0)),
        "commit_p99_ms": round3(figures.commits.percentile_ms(99.0)),
    })
}
