//! The workloads of the benchmark, each returning its figures as JSON.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::client::{self, ProducerSettings};
use crate::stats::{gb, mb_per_s, per_s, Latencies};

pub struct ProduceSpec<'a> {
    pub topic: &'a str,
    pub partitions: i32,
    pub producers: usize,
    pub value_bytes: usize,
    pub records: u64,
    pub settings: ProducerSettings<'a>,
}

pub struct ProduceFigures {
    pub bytes: u64,
    pub records: u64,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

/// Produces `records` values spread evenly over partitions and producers.
pub fn produce(bootstrap: &str, spec: &ProduceSpec<'_>) -> anyhow::Result<ProduceFigures> {
    produce_with(bootstrap, spec, &[])
}

/// As `produce`, every client with `extra` librdkafka settings (TLS).
pub fn produce_with(
    bootstrap: &str,
    spec: &ProduceSpec<'_>,
    extra: &[(&str, &str)],
) -> anyhow::Result<ProduceFigures> {
    client::create_topic_with(bootstrap, spec.topic, spec.partitions, extra)?;
    let per_producer = spec.records / spec.producers as u64;
    let start = Instant::now();
    let results: Vec<anyhow::Result<Vec<u64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.producers)
            .map(|p| {
                scope.spawn(move || -> anyhow::Result<Vec<u64>> {
                    let producer = client::producer_with(bootstrap, &spec.settings, extra)?;
                    let value = vec![b'x'; spec.value_bytes];
                    for i in 0..per_producer {
                        let n = i * spec.producers as u64 + p as u64;
                        let partition = (n % spec.partitions as u64) as i32;
                        client::send(&producer, spec.topic, partition, &n.to_be_bytes(), &value)?;
                        if i % 1024 == 0 {
                            producer.poll(Duration::ZERO);
                        }
                    }
                    client::drain_all(&producer, per_producer)
                })
            })
            .collect();
        join_all(handles, "producer")
    });
    let elapsed = start.elapsed();
    let mut samples = Vec::new();
    for result in results {
        samples.extend(result?);
    }
    let records = per_producer * spec.producers as u64;
    Ok(ProduceFigures {
        bytes: records * spec.value_bytes as u64,
        records,
        elapsed,
        latencies: Latencies::new(samples),
    })
}

pub fn produce_json(name: &str, figures: &ProduceFigures, ceiling_mb_s: f64) -> Value {
    let mb = mb_per_s(figures.bytes, figures.elapsed);
    let mut row = json!({
        "workload": name,
        "records": figures.records,
        "gb": round3(gb(figures.bytes)),
        "mb_per_s": round(mb),
        "records_per_s": round(per_s(figures.records, figures.elapsed)),
        "ratio_to_loopback": round3(mb / ceiling_mb_s),
    });
    if figures.latencies.len() > 0 {
        row["latency_p50_ms"] = json!(round3(figures.latencies.percentile_ms(50.0)));
        row["latency_p99_ms"] = json!(round3(figures.latencies.percentile_ms(99.0)));
    }
    row
}

fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> anyhow::Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fjord-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

/// Consumer threads for a backlog, each with its own share of the partitions.
const MAX_CONSUMER_THREADS: i32 = 4;

/// Consumes a topic's backlog of `records` from the beginning: bytes of
/// values and the time taken. Up to four consumers, each on its own thread
/// with partitions `p` where `p % consumers` is its number, each read
/// through librdkafka's batch interface, so that the bench's side is not
/// what limits the figure (one `poll` per message on one thread was).
pub fn consume_backlog(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
) -> anyhow::Result<(u64, Duration)> {
    consume_backlog_with(bootstrap, topic, partitions, records, &[])
}

/// As `consume_backlog`, every consumer with `extra` librdkafka settings.
pub fn consume_backlog_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    extra: &[(&str, &str)],
) -> anyhow::Result<(u64, Duration)> {
    let consumers = partitions.clamp(1, MAX_CONSUMER_THREADS);
    let seen = AtomicU64::new(0);
    let start = Instant::now();
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let seen = &seen;
        let handles: Vec<_> = (0..consumers)
            .map(|c| {
                scope.spawn(move || -> anyhow::Result<u64> {
                    let mut settings = vec![("fetch.message.max.bytes", "1048576")];
                    settings.extend_from_slice(extra);
                    let mut consumer = client::BatchConsumer::new(consumer(bootstrap, &settings)?)?;
                    let mut assignment = TopicPartitionList::new();
                    for p in (c..partitions).step_by(consumers as usize) {
                        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
                    }
                    consumer.consumer().assign(&assignment)?;
                    let mut bytes = 0u64;
                    // Until all threads together have seen every record: a
                    // thread whose partitions are drained waits for the rest.
                    while seen.load(Ordering::Relaxed) < records {
                        anyhow::ensure!(
                            start.elapsed() < Duration::from_secs(600),
                            "consumed {} of {records} in 600 s",
                            seen.load(Ordering::Relaxed)
                        );
                        let taken = consumer.take(Duration::from_millis(100))?;
                        bytes += taken.bytes;
                        seen.fetch_add(taken.messages, Ordering::Relaxed);
                    }
                    Ok(bytes)
                })
            })
            .collect();
        join_all(handles, "consumer")
    });
    let elapsed = start.elapsed();
    let mut bytes = 0;
    for result in results {
        bytes += result?;
    }
    Ok((bytes, elapsed))
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Produce at a fixed rate and measure produce-to-consume latency; also
/// returns the value bytes moved (produced plus consumed).
pub fn end_to_end(
    bootstrap: &str,
    topic: &str,
    mb_per_sec: f64,
    value_bytes: usize,
    duration: Duration,
) -> anyhow::Result<(Latencies, u64)> {
    client::create_topic(bootstrap, topic, 1)?;
    let consumer = consumer(
        bootstrap,
        &[("fetch.wait.max.ms", "100"), ("fetch.min.bytes", "1")],
    )?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let rate = mb_per_sec * 1e6 / value_bytes as f64;
    let total = (rate * duration.as_secs_f64()) as u64;
    let settings = ProducerSettings {
        idempotence: false,
        acks: "1",
        linger_ms: 0,
        batch_bytes: 1 << 20,
        compression: "none",
        record_latency: false,
    };
    // Measure from a consumer that is already fetching: one warm-up record
    // must arrive before the timed sends start.
    let warm_up = client::producer(bootstrap, &settings)?;
    client::send(&warm_up, topic, 0, b"warm-up", &[0u8; 8])?;
    client::drain(&warm_up)?;
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        anyhow::ensure!(
            Instant::now() < ready_by,
            "the warm-up record never arrived"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            break;
        }
    }
    let latencies = std::thread::scope(|scope| -> anyhow::Result<Latencies> {
        let sender = scope.spawn(move || -> anyhow::Result<()> {
            let producer = client::producer(bootstrap, &settings)?;
            let start = Instant::now();
            let mut value = vec![b'x'; value_bytes.max(8)];
            for i in 0..total {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                value[..8].copy_from_slice(&now_micros().to_be_bytes());
                client::send(&producer, topic, 0, b"k", &value)?;
                producer.poll(Duration::ZERO);
            }
            client::drain(&producer)
        });
        let mut samples = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + duration + Duration::from_secs(30);
        while (samples.len() as u64) < total && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message?;
                if let Some(payload) = message.payload().filter(|p| p.len() >= 8) {
                    let mut sent = [0u8; 8];
                    sent.copy_from_slice(&payload[..8]);
                    samples.push(now_micros().saturating_sub(u64::from_be_bytes(sent)));
                }
            }
        }
        sender
            .join()
            .map_err(|_| anyhow::anyhow!("sender panicked"))??;
        anyhow::ensure!(
            samples.len() as u64 == total,
            "received {} of {total}",
            samples.len()
        );
        Ok(Latencies::new(samples))
    })?;
    let moved = 2 * total * value_bytes.max(8) as u64;
    Ok((latencies, moved))
}

/// Joins scoped client threads in order; a panic is that thread's error.
pub fn join_all<T>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, anyhow::Result<T>>>,
    what: &str,
) -> Vec<anyhow::Result<T>> {
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("{what} thread panicked")))
        })
        .collect()
}

pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
