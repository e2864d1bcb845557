//! librdkafka clients for the workloads, through the `rdkafka` crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::bindings as rdsys;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic_with(bootstrap, name, partitions, &[])
}

/// As `create_topic`, with `extra` librdkafka settings (TLS).
pub fn create_topic_with(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    extra: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
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

#[derive(Clone, Copy)]
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
    producer_with(bootstrap, s, &[])
}

/// A producer with `s` and `extra` librdkafka settings on top.
pub fn producer_with(
    bootstrap: &str,
    s: &ProducerSettings<'_>,
    extra: &[(&str, &str)],
) -> anyhow::Result<BaseProducer<DeliveryTracker>> {
    let tracker = DeliveryTracker {
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        record_latency: s.record_latency,
        latencies_us: Mutex::new(Vec::new()),
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", s.acks)
        .set("linger.ms", s.linger_ms.to_string())
        .set("batch.size", s.batch_bytes.to_string())
        .set("compression.codec", s.compression)
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("enable.idempotence", s.idempotence.to_string());
    for (name, value) in extra {
        config.set(*name, *value);
    }
    Ok(config.create_with_context(tracker)?)
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

/// Waits until no record is queued or in flight, serving delivery reports
/// as they come. rust-rdkafka's `flush` waits up to 100 ms in one poll
/// whenever librdkafka's own flush finds records still in flight, which
/// held each transaction of workload 11 to about 100 ms (10 a second per
/// producer) whatever the broker did; this polls in 1 ms steps instead.
pub fn wait_for_deliveries(
    producer: &BaseProducer<DeliveryTracker>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} records still in flight after {timeout:?}",
            producer.in_flight_count()
        );
        producer.poll(Duration::from_millis(1));
    }
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

/// Messages and value bytes taken off a consumer by one batch call.
#[derive(Default, Clone, Copy)]
pub struct Taken {
    pub messages: u64,
    pub bytes: u64,
}

/// A consumer read through librdkafka's batch interface
/// (`rd_kafka_consume_batch_queue`, what confluent-kafka-python's
/// `consume(num_messages)` uses): one call takes up to a thousand messages
/// off the consumer queue, where `BaseConsumer::poll` takes one per call and
/// wraps each, so the bench's own thread costs little per message.
pub struct BatchConsumer {
    consumer: BaseConsumer,
    queue: *mut rdsys::rd_kafka_queue_t,
    slots: Vec<*mut rdsys::rd_kafka_message_t>,
}

impl BatchConsumer {
    /// `consumer` must have a group.id, so that its messages arrive on the
    /// consumer queue (rdkafka redirects the main queue there).
    pub fn new(consumer: BaseConsumer) -> anyhow::Result<Self> {
        // SAFETY: the client pointer is valid while `consumer` lives, and
        // `consumer` lives in the struct beside the queue, which Drop
        // releases first.
        let queue = unsafe { rdsys::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
        anyhow::ensure!(!queue.is_null(), "the consumer has no consumer queue");
        Ok(BatchConsumer {
            consumer,
            queue,
            slots: vec![std::ptr::null_mut(); 1000],
        })
    }

    pub fn consumer(&self) -> &BaseConsumer {
        &self.consumer
    }

    /// Takes what has arrived within `timeout`: messages and value bytes.
    pub fn take(&mut self, timeout: Duration) -> anyhow::Result<Taken> {
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `slots` has room for `slots.len()` message pointers, which
        // librdkafka fills from the start and we destroy below.
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue,
                timeout_ms,
                self.slots.as_mut_ptr(),
                self.slots.len(),
            )
        };
        anyhow::ensure!(n >= 0, "rd_kafka_consume_batch_queue failed");
        let mut taken = Taken::default();
        let mut failure = None;
        for slot in &mut self.slots[..n as usize] {
            let message = std::mem::replace(slot, std::ptr::null_mut());
            // SAFETY: librdkafka handed us this message; we read it and then
            // destroy it exactly once.
            unsafe {
                let err = (*message).err;
                if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                    taken.messages += 1;
                    taken.bytes += (*message).len as u64;
                } else if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__PARTITION_EOF
                    && failure.is_none()
                {
                    failure = Some(format!("{:?}", RDKafkaErrorCode::from(err)));
                }
                rdsys::rd_kafka_message_destroy(message);
            }
        }
        match failure {
            Some(error) => anyhow::bail!("consuming: {error}"),
            None => Ok(taken),
        }
    }
}

impl Drop for BatchConsumer {
    fn drop(&mut self) {
        // SAFETY: the queue came from rd_kafka_queue_get_consumer and is
        // released once, while the consumer still lives.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue) };
    }
}
