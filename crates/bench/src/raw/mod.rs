//! Workload 12, the broker with a client that costs almost nothing per
//! byte: pre-encoded Produce requests (v9, one batch of 1000 1 KiB records,
//! about 1 MB, per request) pipelined over four connections into four
//! partitions, 1 GiB in all (--quick: a quarter); then Fetch requests (v12)
//! reading it back, two in flight per connection, each following the
//! offsets its answers return, decoded down to the partitions' record bytes
//! only; then the same produce with acks=all into a second topic, and
//! with acks=all from idempotent producers (one per connection, each batch
//! stamped with its sequence) into a third, which shows what the broker's
//! producer-state checks cost apart from any client's limits; then
//! transactions of one batch each (raw/transactions.rs), whose EndTxn round
//! trips give what a commit adds. Each
//! phase is timed alone with the broker's CPU time read around it, and
//! repeated; each row gives the median run and every run's figures. Bytes
//! counted are record-batch bytes, as they cross the socket. After each
//! produce phase the bench writes as many bytes into a file of its own and
//! reports that CPU per GB beside the broker's: on this VM the kernel's copy
//! into the page cache, which the broker pays too, swings several-fold.
//! Each produce and consume phase is followed by its kernel floor
//! (`kernel_floor_cpu_s_per_gb`): the bench's own CPU for receiving as many
//! bytes over loopback and writing them to a file, or for sending them from
//! a cached file with sendfile; the broker's CPU above it is its own.

mod fetch;
pub mod frames;
mod produce;
mod transactions;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::broker;
use crate::ceiling;
use crate::client;
use crate::flush_probe::FlushProbe;
use crate::stats::{gb, mb_per_s, median, Latencies};
use crate::workloads::{join_all, round, round3};

const PARTITIONS: i32 = 4;
const CONNECTIONS: usize = 4;
/// Fetch requests in flight per connection (stretches read at once).
const FETCHES_IN_FLIGHT: usize = 2;

pub struct RawSpec<'a> {
    pub bootstrap: &'a str,
    /// Topic names start with this; each run adds its own suffixes.
    pub topic_prefix: &'a str,
    pub total_bytes: u64,
    pub runs: usize,
    /// The broker's process, for its CPU time; without it no CPU figures.
    pub broker_pid: Option<u32>,
    pub loopback_mb_s: f64,
    /// Bytes asked for per Fetch request.
    pub fetch_bytes: usize,
    /// Where the page-cache control file is written.
    pub scratch_dir: &'a Path,
}

/// One timed phase of one run.
struct Phase {
    bytes: u64,
    elapsed: Duration,
    cpu_s: Option<f64>,
    /// After a produce phase: what writing as many bytes into a file costs
    /// the bench in CPU (the page-cache copy the broker paid too).
    page_cache_cpu_s: Option<f64>,
    /// What the kernel alone costs for as many bytes (ceiling::recv_write_cpu
    /// after a produce phase, ceiling::sendfile_cpu after a consume phase).
    kernel_floor_cpu_s: Option<f64>,
}

/// The workload's rows: produce acks=1, consume, produce acks=all.
pub fn run(spec: &RawSpec<'_>) -> anyhow::Result<Vec<Value>> {
    let batch = produce::batch()?;
    let per_partition = (spec.total_bytes / batch.len() as u64 / PARTITIONS as u64).max(1) as usize;
    let (mut acks_1, mut consumed, mut acks_all, mut idempotent) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut transactional, mut commits_us, mut retries) = (Vec::new(), Vec::new(), 0);
    let mut flushes_us = Vec::new();
    for run in 0..spec.runs.max(1) {
        let topic = format!("{}-{run}-acks1", spec.topic_prefix);
        let (phase, offsets) = produce_into(spec, &topic, 1, false, &batch, per_partition)?;
        acks_1.push(phase);
        let mut phase = consume_phase(spec, &topic, &offsets, batch.len())?;
        phase.kernel_floor_cpu_s = Some(ceiling::sendfile_cpu(spec.scratch_dir, phase.bytes)?);
        consumed.push(phase);
        let topic = format!("{}-{run}-acksall", spec.topic_prefix);
        acks_all.push(produce_into(spec, &topic, -1, false, &batch, per_partition)?.0);
        let topic = format!("{}-{run}-idempotent", spec.topic_prefix);
        idempotent.push(produce_into(spec, &topic, -1, true, &batch, per_partition)?.0);
        let topic = format!("{}-{run}-transactions", spec.topic_prefix);
        client::create_topic(spec.bootstrap, &topic, PARTITIONS)?;
        // A quarter of the volume: each transaction waits for its commit.
        let probe = FlushProbe::start(spec.scratch_dir)?;
        let (phase, figures) = transactions_phase(spec, &topic, run, &batch, per_partition / 4)?;
        flushes_us.extend(probe.finish()?);
        transactional.push(phase);
        commits_us.extend(figures.commits_us);
        retries += figures.retries;
    }
    Ok(vec![
        row("12 raw produce 4p acks=1", &acks_1, spec.loopback_mb_s),
        row("12 raw consume 4p", &consumed, spec.loopback_mb_s),
        row("12 raw produce 4p acks=all", &acks_all, spec.loopback_mb_s),
        idempotent_row(&acks_all, &idempotent, spec.loopback_mb_s),
        transactions_row(
            &transactional,
            commits_us,
            flushes_us,
            retries,
            spec.loopback_mb_s,
        ),
    ])
}

/// A produce phase into a new topic, with the page-cache control measured
/// after it.
fn produce_into(
    spec: &RawSpec<'_>,
    topic: &str,
    acks: i16,
    idempotent: bool,
    batch: &Bytes,
    per_partition: usize,
) -> anyhow::Result<(Phase, Vec<Vec<i64>>)> {
    client::create_topic(spec.bootstrap, topic, PARTITIONS)?;
    let (mut phase, offsets) = produce_phase(spec, topic, acks, idempotent, batch, per_partition)?;
    phase.page_cache_cpu_s = Some(ceiling::page_cache_write_cpu(
        spec.scratch_dir,
        phase.bytes,
    )?);
    phase.kernel_floor_cpu_s = Some(ceiling::recv_write_cpu(spec.scratch_dir, phase.bytes)?);
    Ok((phase, offsets))
}

/// Runs `work` with the clock and the broker's CPU time read around it.
fn timed(
    broker_pid: Option<u32>,
    work: impl FnOnce() -> anyhow::Result<u64>,
) -> anyhow::Result<Phase> {
    let cpu = || broker_pid.map(broker::cpu_seconds).transpose();
    let cpu_before = cpu()?;
    let start = Instant::now();
    let bytes = work()?;
    let elapsed = start.elapsed();
    let cpu_s = cpu()?.zip(cpu_before).map(|(after, before)| after - before);
    Ok(Phase {
        bytes,
        elapsed,
        cpu_s,
        page_cache_cpu_s: None,
        kernel_floor_cpu_s: None,
    })
}

/// Connections opened before the clock starts; `CONNECTIONS` at most, one
/// per partition at least.
fn connect(spec: &RawSpec<'_>) -> anyhow::Result<Vec<frames::Connection>> {
    (0..CONNECTIONS.min(PARTITIONS as usize))
        .map(|_| frames::Connection::open(spec.bootstrap))
        .collect()
}

/// Connections as [`connect`] opens them, once the broker serves `topic`'s
/// partitions.
fn connect_when_served(spec: &RawSpec<'_>, topic: &str) -> anyhow::Result<Vec<frames::Connection>> {
    let mut connections = connect(spec)?;
    if let Some(first) = connections.first_mut() {
        fetch::wait_until_served(first, topic, PARTITIONS)?;
    }
    Ok(connections)
}

/// Writes `per_partition` batches to each partition, connection `c` taking
/// partitions `c, c + CONNECTIONS, …`; returns the phase and each
/// partition's batch base offsets as the broker gave them.
fn produce_phase(
    spec: &RawSpec<'_>,
    topic: &str,
    acks: i16,
    idempotent: bool,
    batch: &Bytes,
    per_partition: usize,
) -> anyhow::Result<(Phase, Vec<Vec<i64>>)> {
    let mut connections = connect_when_served(spec, topic)?;
    let step = connections.len();
    let jobs: Vec<produce::ProduceJob<'_>> = (0..step)
        .map(|c| produce::ProduceJob {
            topic,
            partitions: (c as i32..PARTITIONS).step_by(step).collect(),
            count: per_partition,
            acks,
            batch,
            idempotent,
        })
        .collect();
    let mut offsets = vec![Vec::new(); PARTITIONS as usize];
    let phase = timed(spec.broker_pid, || {
        let results: Vec<anyhow::Result<Vec<Vec<i64>>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = connections
                .iter_mut()
                .zip(&jobs)
                .map(|(connection, job)| scope.spawn(move || produce::run(connection, job)))
                .collect();
            join_all(handles, "connection")
        });
        for (job, result) in jobs.iter().zip(results) {
            for (&partition, base_offsets) in job.partitions.iter().zip(result?) {
                offsets[partition as usize] = base_offsets;
            }
        }
        Ok((PARTITIONS as usize * per_partition * batch.len()) as u64)
    })?;
    Ok((phase, offsets))
}

/// Transactions of one batch each, `per_partition` to each partition, one
/// transactional producer per connection.
fn transactions_phase(
    spec: &RawSpec<'_>,
    topic: &str,
    run: usize,
    batch: &Bytes,
    per_partition: usize,
) -> anyhow::Result<(Phase, transactions::TxnFigures)> {
    let mut connections = connect_when_served(spec, topic)?;
    let step = connections.len();
    let jobs: Vec<transactions::TxnJob<'_>> = (0..step)
        .map(|c| transactions::TxnJob {
            topic,
            partitions: (c as i32..PARTITIONS).step_by(step).collect(),
            count: per_partition.max(1),
            batch,
            transactional_id: format!("{}-{run}-txn-{c}", spec.topic_prefix),
        })
        .collect();
    let mut all = transactions::TxnFigures {
        commits_us: Vec::new(),
        retries: 0,
    };
    let phase = timed(spec.broker_pid, || {
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = connections
                .iter_mut()
                .zip(&jobs)
                .map(|(connection, job)| scope.spawn(move || transactions::run(connection, job)))
                .collect();
            join_all(handles, "connection")
        });
        for result in results {
            let figures = result?;
            all.commits_us.extend(figures.commits_us);
            all.retries += figures.retries;
        }
        let batches: usize = jobs.iter().map(|j| j.count * j.partitions.len()).sum();
        Ok((batches * batch.len()) as u64)
    })?;
    Ok((phase, all))
}

/// Reads back what `produce_phase` wrote: each partition cut into stretches
/// at batch boundaries the broker reported, the stretches dealt out to the
/// connections so that each has `FETCHES_IN_FLIGHT` requests in flight.
fn consume_phase(
    spec: &RawSpec<'_>,
    topic: &str,
    offsets: &[Vec<i64>],
    batch_len: usize,
) -> anyhow::Result<Phase> {
    let mut connections = connect(spec)?;
    let per_partition = (connections.len() * FETCHES_IN_FLIGHT / offsets.len()).max(1);
    let mut plans: Vec<Vec<fetch::Stretch>> = connections.iter().map(|_| Vec::new()).collect();
    let mut dealt = 0;
    for (partition, bases) in offsets.iter().enumerate() {
        anyhow::ensure!(
            bases.windows(2).all(|w| w[0] < w[1]),
            "partition {partition}: base offsets out of order"
        );
        for k in 0..per_partition {
            let (from, to) = (
                k * bases.len() / per_partition,
                (k + 1) * bases.len() / per_partition,
            );
            if from == to {
                continue;
            }
            let connection = dealt % plans.len();
            plans[connection].push(fetch::Stretch {
                partition: partition as i32,
                next: bases[from],
                batches: to - from,
            });
            dealt += 1;
        }
    }
    let expected: usize = offsets.iter().map(Vec::len).sum();
    timed(spec.broker_pid, || {
        let results: Vec<anyhow::Result<fetch::Consumed>> = std::thread::scope(|scope| {
            let handles: Vec<_> = connections
                .iter_mut()
                .zip(plans)
                .map(|(connection, plan)| {
                    scope.spawn(move || {
                        fetch::run(connection, topic, plan, batch_len, spec.fetch_bytes)
                    })
                })
                .collect();
            join_all(handles, "connection")
        });
        let (mut bytes, mut batches) = (0, 0);
        for result in results {
            let consumed = result?;
            bytes += consumed.bytes;
            batches += consumed.batches;
        }
        anyhow::ensure!(
            batches == expected as u64,
            "read {batches} batches of the {expected} written"
        );
        Ok(bytes)
    })
}

/// The median run's figures, and each run's.
fn row(name: &str, phases: &[Phase], loopback_mb_s: f64) -> Value {
    let speeds: Vec<f64> = phases
        .iter()
        .map(|p| mb_per_s(p.bytes, p.elapsed))
        .collect();
    let cpu: Option<Vec<f64>> = phases.iter().map(|p| p.cpu_s).collect();
    let cpu_per_gb: Option<Vec<f64>> = phases
        .iter()
        .map(|p| p.cpu_s.map(|s| s / gb(p.bytes).max(1e-9)))
        .collect();
    let page_cache: Option<Vec<f64>> = phases
        .iter()
        .map(|p| p.page_cache_cpu_s.map(|s| s / gb(p.bytes).max(1e-9)))
        .collect();
    let floor: Option<Vec<f64>> = phases
        .iter()
        .map(|p| p.kernel_floor_cpu_s.map(|s| s / gb(p.bytes).max(1e-9)))
        .collect();
    let mb = median(&speeds);
    json!({
        "workload": name,
        "gb": round3(phases.first().map_or(0.0, |p| gb(p.bytes))),
        "runs": phases.len(),
        "mb_per_s": round(mb),
        "ratio_to_loopback": round3(mb / loopback_mb_s),
        "broker_cpu_s": cpu.as_deref().map(|c| round3(median(c))),
        "broker_cpu_s_per_gb": cpu_per_gb.as_deref().map(|c| round3(median(c))),
        "runs_mb_per_s": speeds.iter().map(|s| round(*s)).collect::<Vec<_>>(),
        "runs_cpu_s_per_gb": cpu_per_gb.as_deref().map(rounded),
        "page_cache_write_cpu_s_per_gb": page_cache.as_deref().map(|c| round3(median(c))),
        "runs_page_cache_write_cpu_s_per_gb": page_cache.as_deref().map(rounded),
        "kernel_floor_cpu_s_per_gb": floor.as_deref().map(|c| round3(median(c))),
        "runs_kernel_floor_cpu_s_per_gb": floor.as_deref().map(rounded),
    })
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| round3(*v)).collect()
}

/// The idempotent acks=all row, with its throughput and CPU per GB beside
/// the plain acks=all row's (medians of each): a ratio under 1 is what the
/// broker's idempotence costs.
fn idempotent_row(plain: &[Phase], idempotent: &[Phase], loopback_mb_s: f64) -> Value {
    let mut row = row(
        "12 raw produce 4p acks=all idempotent",
        idempotent,
        loopback_mb_s,
    );
    let median_of = |phases: &[Phase], figure: &dyn Fn(&Phase) -> Option<f64>| {
        let values: Option<Vec<f64>> = phases.iter().map(figure).collect();
        values.map(|v| median(&v))
    };
    let speed = |p: &Phase| Some(mb_per_s(p.bytes, p.elapsed));
    let cpu_per_gb = |p: &Phase| p.cpu_s.map(|s| s / gb(p.bytes).max(1e-9));
    if let (Some(a), Some(b)) = (median_of(idempotent, &speed), median_of(plain, &speed)) {
        row["ratio_to_acks_all"] = json!(round3(a / b));
    }
    if let (Some(a), Some(b)) = (
        median_of(idempotent, &cpu_per_gb),
        median_of(plain, &cpu_per_gb),
    ) {
        row["cpu_per_gb_ratio_to_acks_all"] = json!(round3(a / b.max(1e-9)));
    }
    row
}

/// The transactional row: throughput and CPU as the others, transactions
/// per second, the EndTxn round trips over every run, and the device's
/// flush latency measured beside them (flush_probe.rs).
fn transactions_row(
    phases: &[Phase],
    commits_us: Vec<u64>,
    flushes_us: Vec<u64>,
    retries: u64,
    loopback_mb_s: f64,
) -> Value {
    let mut row = row("12 raw transactions 4p of 1 batch", phases, loopback_mb_s);
    let commits = Latencies::new(commits_us);
    let seconds: f64 = phases.iter().map(|p| p.elapsed.as_secs_f64()).sum();
    row["transactions"] = json!(commits.len());
    row["transactions_per_s"] = json!(round(commits.len() as f64 / seconds.max(1e-9)));
    row["commit_p50_ms"] = json!(round3(commits.percentile_ms(50.0)));
    row["commit_p99_ms"] = json!(round3(commits.percentile_ms(99.0)));
    row["concurrent_transactions_retries"] = json!(retries);
    crate::flush_probe::add_to_row(&mut row, flushes_us);
    row
}
