//! The device's durable-write latency while a workload runs: a thread of
//! the bench appends a small record to a file of its own on the broker's
//! filesystem and fdatasyncs it, every few milliseconds, until stopped.
//! A commit answered only once its decision is on disk (EndTxn) cannot be
//! faster than this; beside the commit's percentiles it shows how much of
//! them is the device's flush and how much the broker's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::stats::Latencies;

/// About the size of a transaction state record.
const RECORD_BYTES: usize = 128;
/// Between flushes: often enough for percentiles, rare enough to add little
/// load of its own (a few hundred flushes a second come from the workload).
const PAUSE: Duration = Duration::from_millis(5);

pub struct FlushProbe {
    stop: Arc<AtomicBool>,
    path: PathBuf,
    thread: JoinHandle<anyhow::Result<Vec<u64>>>,
}

impl FlushProbe {
    pub fn start(dir: &Path) -> anyhow::Result<FlushProbe> {
        let path = dir.join("bench-flush-probe.tmp");
        let mut file = std::fs::File::create(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
            let record = [b'p'; RECORD_BYTES];
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let start = Instant::now();
                file.write_all(&record)?;
                file.sync_data()?;
                samples.push(start.elapsed().as_micros() as u64);
                std::thread::sleep(PAUSE);
            }
            Ok(samples)
        });
        Ok(FlushProbe { stop, path, thread })
    }

    /// Stops the probe and removes its file; the flushes it timed.
    pub fn finish(self) -> anyhow::Result<Vec<u64>> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the flush probe panicked"))??;
        std::fs::remove_file(&self.path)?;
        Ok(samples)
    }
}

/// The probe's fields for a row: its flushes' p50 and p99.
pub fn add_to_row(row: &mut serde_json::Value, samples: Vec<u64>) {
    let flushes = Latencies::new(samples);
    row["device_flush_p50_ms"] =
        serde_json::json!(crate::workloads::round3(flushes.percentile_ms(50.0)));
    row["device_flush_p99_ms"] =
        serde_json::json!(crate::workloads::round3(flushes.percentile_ms(99.0)));
}
