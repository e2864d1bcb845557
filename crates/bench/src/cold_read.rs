//! Workload 9, cold read under load: a producer at a fixed rate (acks=1)
//! while a consumer reads a backlog that is not in the page cache. The
//! producer's latency is measured twice in the same run, first alone, then
//! while the cold reader runs; the ratio of the two p99s shows whether
//! reads waiting for the disk hold up other clients (goal: under 2).
//!
//! The backlog is pushed out of the page cache with
//! `posix_fadvise(POSIX_FADV_DONTNEED)` on every segment file under the
//! broker's data dir, after an fdatasync (dirty pages are not dropped),
//! before the producer's baseline, so neither phase shares the disk with
//! the backlog's writeback.
//! So the workload needs the data dir: it runs only on a broker the bench
//! started itself.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, ProducerSettings};
use crate::stats::{gb, mb_per_s, Latencies};
use crate::workloads::{self, round, round3, ProduceSpec};

const VALUE_BYTES: usize = 1024;
/// The live producer's rate.
const LIVE_MB_PER_S: f64 = 10.0;

pub struct ColdRead<'a> {
    pub bootstrap: &'a str,
    pub broker_data_dir: &'a Path,
    pub backlog_topic: &'a str,
    pub live_topic: &'a str,
    pub backlog_bytes: u64,
    /// How long the producer runs alone; with the reader it runs as long as
    /// the reader does.
    pub baseline: Duration,
}

pub fn run(spec: &ColdRead<'_>) -> anyhow::Result<Value> {
    let records = spec.backlog_bytes / VALUE_BYTES as u64;
    let backlog = workloads::produce(
        spec.bootstrap,
        &ProduceSpec {
            topic: spec.backlog_topic,
            partitions: 1,
            producers: 1,
            value_bytes: VALUE_BYTES,
            records,
            settings: ProducerSettings {
                idempotence: false,
                acks: "1",
                linger_ms: 5,
                batch_bytes: 1 << 20,
                compression: "none",
                record_latency: false,
            },
        },
    )?;
    client::create_topic(spec.bootstrap, spec.live_topic, 1)?;
    // Dropped before the baseline, not after: dropping fdatasyncs the
    // backlog first, and otherwise the kernel writes its GiB of dirty pages
    // back while the producer runs alone, which made that p99 swing from 2
    // to 17 ms between runs.
    let dropped = drop_page_cache(spec.broker_data_dir)?;
    let until = Instant::now() + spec.baseline;
    let alone = produce_at_rate(spec.bootstrap, spec.live_topic, || {
        Ok(Instant::now() >= until)
    })?;
    let (under_load, read_bytes, read_mb_s) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let reader = scope
            .spawn(|| workloads::consume_backlog(spec.bootstrap, spec.backlog_topic, 1, records));
        let latencies =
            produce_at_rate(spec.bootstrap, spec.live_topic, || Ok(reader.is_finished()))?;
        let (bytes, elapsed) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("cold reader panicked"))??;
        Ok((latencies, bytes, mb_per_s(bytes, elapsed)))
    })?;
    let p99_alone = alone.percentile_ms(99.0);
    let p99_loaded = under_load.percentile_ms(99.0);
    // What the broker moved: the backlog in and out, the live records in.
    let live = (alone.len() + under_load.len()) as u64 * VALUE_BYTES as u64;
    let moved = backlog.bytes + read_bytes + live;
    Ok(json!({
        "workload": "9 cold read under load",
        "gb": round3(gb(moved)),
        "segment_files_dropped": dropped,
        "cold_read_mb_per_s": round(read_mb_s),
        "producer_samples_alone": alone.len(),
        "producer_p50_ms_alone": round3(alone.percentile_ms(50.0)),
        "producer_p99_ms_alone": round3(p99_alone),
        "producer_samples_with_reader": under_load.len(),
        "producer_p50_ms_with_reader": round3(under_load.percentile_ms(50.0)),
        "producer_p99_ms_with_reader": round3(p99_loaded),
        "p99_ratio": round3(p99_loaded / p99_alone.max(1e-3)),
    }))
}

/// Produces 1 KiB records at `LIVE_MB_PER_S` (acks=1, no linger) until
/// `done` says so; returns each record's send-to-acknowledgement latency.
fn produce_at_rate(
    bootstrap: &str,
    topic: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Latencies> {
    let settings = ProducerSettings {
        idempotence: false,
        acks: "1",
        linger_ms: 0,
        batch_bytes: 1 << 20,
        compression: "none",
        record_latency: true,
    };
    let producer = client::producer(bootstrap, &settings)?;
    let rate = LIVE_MB_PER_S * 1e6 / VALUE_BYTES as f64;
    let value = vec![b'x'; VALUE_BYTES];
    let start = Instant::now();
    let mut sent = 0u64;
    while !done()? {
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        client::send(&producer, topic, 0, b"k", &value)?;
        producer.poll(Duration::ZERO);
        sent += 1;
    }
    Ok(Latencies::new(client::drain_all(&producer, sent)?))
}

/// fdatasync and `POSIX_FADV_DONTNEED` on every `.log` file under `dir`;
/// returns how many there were.
fn drop_page_cache(dir: &Path) -> anyhow::Result<usize> {
    let mut dropped = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            dropped += drop_page_cache(&path)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let file = std::fs::File::open(&path)?;
        file.sync_data()?;
        // SAFETY: fadvise only reads the descriptor we own; it changes no memory of ours.
        let errno =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        anyhow::ensure!(
            errno == 0,
            "posix_fadvise {}: {}",
            path.display(),
            std::io::Error::from_raw_os_error(errno)
        );
        dropped += 1;
    }
    Ok(dropped)
}
