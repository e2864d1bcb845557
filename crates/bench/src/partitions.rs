//! Workload 8: 100,000 partitions (100 topics x 1000) on one broker, within
//! the machine's default open-file limit: start-up time, open files and RSS.
//!
//! The partitions are created through the storage API (metadata store and
//! log store, as the broker stores them), not with CreateTopics: the broker
//! creates a topic's partitions one after another with three fsyncs each
//! (about 12 ms here), 20 minutes for 100,000; the storage API lets the bench
//! create them 64 at a time. Everything after that goes through the broker.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_storage::local::LocalLogStore;
use fjord_storage::meta::{FileMetadataStore, MetadataStore, TopicMeta};
use fjord_storage::{LogConfig, LogStore, TopicIdPartition};
use serde_json::{json, Value};

use crate::broker::BrokerProcess;
use crate::client::{self, ProducerSettings};
use crate::workloads::{round, round3};

pub struct Shape {
    pub topics: usize,
    pub partitions_per_topic: i32,
}

impl Shape {
    fn topic(&self, t: usize) -> String {
        format!("many-{t:03}")
    }

    fn total(&self) -> usize {
        self.topics * usize::try_from(self.partitions_per_topic).unwrap_or(0)
    }
}

/// Creates the topics and their empty partitions in `data_dir`, then closes
/// the store cleanly. Returns how long it took.
fn create_directly(data_dir: &Path, shape: &Shape) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let meta = FileMetadataStore::open(data_dir, None)?;
        let logs = Arc::new(LocalLogStore::open(data_dir.to_path_buf())?);
        let mut creating = tokio::task::JoinSet::new();
        for t in 0..shape.topics {
            let name = shape.topic(t);
            let id = uuid::Uuid::new_v4();
            meta.create_topic(TopicMeta {
                name: name.clone(),
                id,
                partitions: shape.partitions_per_topic,
                configs: BTreeMap::new(),
                version: 0,
            })
            .await?;
            for p in 0..shape.partitions_per_topic {
                while creating.len() >= 64 {
                    if let Some(done) = creating.join_next().await {
                        done??;
                    }
                }
                let (logs, name) = (Arc::clone(&logs), name.clone());
                creating.spawn(async move {
                    logs.open_partition(&TopicIdPartition::new(id, &name, p), LogConfig::default())
                        .await
                        .map(drop)
                });
            }
        }
        while let Some(done) = creating.join_next().await {
            done??;
        }
        logs.flush_all().await?;
        anyhow::Ok(())
    })?;
    Ok(started.elapsed())
}

const VALUE_BYTES: usize = 100;

/// One 100-byte record to every partition, acks=1: a producer per topic,
/// four topics at a time (one librdkafka producer for all 100,000 partitions
/// managed about 35 partitions a second here, busy scanning its partitions).
fn produce_to_every_partition(bootstrap: &str, shape: &Shape) -> anyhow::Result<Duration> {
    const THREADS: usize = 4;
    let started = Instant::now();
    let settings = ProducerSettings {
        idempotence: false,
        acks: "1",
        linger_ms: 20,
        batch_bytes: 1 << 20,
        compression: "none",
        record_latency: false,
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|worker| {
                let settings = &settings;
                scope.spawn(move || -> anyhow::Result<()> {
                    for t in (worker..shape.topics).step_by(THREADS) {
                        let topic = shape.topic(t);
                        let producer = client::producer(bootstrap, settings)?;
                        for p in 0..shape.partitions_per_topic {
                            client::send(&producer, &topic, p, b"k", &[b'v'; VALUE_BYTES])?;
                        }
                        client::drain(&producer)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
        }
        anyhow::Ok(())
    })?;
    Ok(started.elapsed())
}

fn ms(elapsed: Duration) -> Value {
    json!(round(elapsed.as_secs_f64() * 1000.0))
}

fn process_figures(broker: &BrokerProcess) -> anyhow::Result<Value> {
    Ok(json!({
        "open_files": broker.open_files()?,
        "rss_mb": round(broker.rss_mb()?),
    }))
}

/// Creates the partitions, starts the broker on them, writes to each, and
/// restarts it: the figures of each step.
pub fn run(binary: &Path, data_dir: &Path, shape: &Shape) -> anyhow::Result<Value> {
    let created = create_directly(data_dir, shape)?;
    let (broker, first_start) = BrokerProcess::start(binary, data_dir)?;
    let empty = process_figures(&broker)?;
    let produced = produce_to_every_partition(&broker.bootstrap, shape)?;
    let written = process_figures(&broker)?;
    let first_cpu = crate::broker::cpu_seconds(broker.pid())?;
    let stopping = Instant::now();
    broker.stop()?;
    let stopped = stopping.elapsed();
    let (broker, restart) = BrokerProcess::start(binary, data_dir)?;
    let restarted = process_figures(&broker)?;
    let reproduced = produce_to_every_partition(&broker.bootstrap, shape)?;
    let rewritten = process_figures(&broker)?;
    // Both brokers' CPU, start-ups included (loading the partitions is what
    // this workload is about), over the two rounds of 100-byte records.
    let cpu = first_cpu + crate::broker::cpu_seconds(broker.pid())?;
    let moved = crate::stats::gb(2 * shape.total() as u64 * VALUE_BYTES as u64);
    broker.stop()?;
    Ok(json!({
        "workload": format!("8 {} partitions ({} topics)", shape.total(), shape.topics),
        "gb": round3(moved),
        "broker_cpu_s": round3(cpu),
        "open_file_limit": crate::scale::fd_limit(),
        "create_ms": ms(created),
        "startup_ms": ms(first_start),
        "after_start": empty,
        "produce_1_each_ms": ms(produced),
        "after_produce": written,
        "clean_shutdown_ms": ms(stopped),
        "restart_startup_ms": ms(restart),
        "after_restart": restarted,
        "produce_1_each_after_restart_ms": ms(reproduced),
        "after_restart_and_produce": rewritten,
    }))
}
