//! librdkafka clients for the workloads, through the `rdkafka` crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics(&[topic], &AdminOptions::new()))?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// Counts acknowledged records and, when asked, their produce latency.
pub struct DeliveryTracker {
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    record_latency: bool,
    pub latencies_us: Mutex<Vec<u64>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                if self.record_latency {
                    let micros = sent_at.elapsed().as_micros() as u64;
                    if let Ok(mut samples) = self.latencies_us.lock() {
                        samples.push(micros);
                    }
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub struct ProducerSettings<'a> {
    pub acks: &'a str,
    pub linger_ms: u32,
    pub batch_bytes: u32,
    pub compression: &'a str,
    pub record_latency: bool,
    /// `enable.idempotence` (librdkafka then uses acks=all).
    pub idempotence: bool,
}

pub fn producer(
    bootstrap: &str,
    s: &ProducerSettings<'_>,
) -> anyhow::Result<BaseProducer<DeliveryTracker>> {
    let tracker = DeliveryTracker {
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        record_latency: s.record_latency,
        latencies_us: Mutex::new(Vec::new()),
    };
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", s.acks)
        .set("linger.ms", s.linger_ms.to_string())
        .set("batch.size", s.batch_bytes.to_string())
        .set("compression.codec", s.compression)
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("enable.idempotence", s.idempotence.to_string())
        .create_with_context(tracker)?)
}

/// Sends one record, waiting for queue space when librdkafka's buffer is full.
pub fn send(
    producer: &BaseProducer<DeliveryTracker>,
    topic: &str,
    partition: i32,
    key: &[u8],
    value: &[u8],
) -> anyhow::Result<()> {
    let mut record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
        .partition(partition)
        .key(key)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Waits until every queued record is acknowledged or failed.
pub fn drain(producer: &BaseProducer<DeliveryTracker>) -> anyhow::Result<()> {
    producer.flush(Duration::from_secs(300))?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} records failed to produce");
    Ok(())
}

/// Waits until all `sent` records are acknowledged (none failed); returns
/// their latencies when the producer records them.
pub fn drain_all(producer: &BaseProducer<DeliveryTracker>, sent: u64) -> anyhow::Result<Vec<u64>> {
    drain(producer)?;
    let acked = producer.context().acked.load(Ordering::Relaxed);
    anyhow::ensure!(acked == sent, "acked {acked} of {sent}");
    let mut samples = producer
        .context()
        .latencies_us
        .lock()
        .map_err(|_| anyhow::anyhow!("latency samples poisoned"))?;
    Ok(std::mem::take(&mut *samples))
}
