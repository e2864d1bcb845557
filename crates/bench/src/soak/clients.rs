//! The soak's clients, each on its own thread: paced producers writing to
//! whichever topics are live, and group members that check every record
//! they read and commit synchronously.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fjord_testkit::group_member::{leave_group, GroupMember};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::ledger::{record_id, value, TopicLedger};

/// State every client thread shares with the soak's driver.
#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    /// Topics producers may write to; a topic leaves this list first when
    /// it is retired.
    pub live: RwLock<Vec<Arc<TopicLedger>>>,
    pub sent: AtomicU64,
    pub acknowledged: AtomicU64,
    pub consumed: AtomicU64,
    pub delivery_failures: AtomicU64,
    /// The slowest delivery report since the last progress line, by acks.
    pub slowest_acks_all_ms: AtomicU64,
    pub slowest_acks_1_ms: AtomicU64,
    pub members_joined: AtomicU64,
    pub members_left: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub consumer_errors: AtomicU64,
}

pub struct ProducerSpec {
    pub id: u32,
    pub acks: &'static str,
    pub compression: &'static str,
    pub bytes_per_s: f64,
}

/// Delivery reports go to the topic's ledger; failures (not losses: the
/// record was not acknowledged) and the slowest delivery are counted.
struct Deliveries {
    shared: Arc<Shared>,
    acks_all: bool,
}

pub struct Pending {
    topic: Arc<TopicLedger>,
    id: u64,
    sent_at: Instant,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Self::DeliveryOpaque) {
        let Pending { topic, id, sent_at } = *pending;
        let slowest = if self.acks_all {
            &self.shared.slowest_acks_all_ms
        } else {
            &self.shared.slowest_acks_1_ms
        };
        slowest.fetch_max(sent_at.elapsed().as_millis() as u64, Ordering::Relaxed);
        match result {
            Ok(message) => {
                self.shared.acknowledged.fetch_add(1, Ordering::Relaxed);
                topic.acknowledged(message.partition(), message.offset(), id);
            }
            Err((error, _)) => {
                let failures = self
                    .shared
                    .delivery_failures
                    .fetch_add(1, Ordering::Relaxed);
                if failures < 5 {
                    eprintln!("soak: {}: record {id} not delivered: {error}", topic.name);
                }
            }
        }
        topic.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sends records to random live topics at `bytes_per_s` until `stop`, then
/// waits for every delivery report.
pub fn produce(bootstrap: &str, spec: ProducerSpec, shared: Arc<Shared>) -> anyhow::Result<()> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", spec.acks)
        .set("compression.codec", spec.compression)
        .set("enable.idempotence", "false")
        // A metadata refresh for a deleted topic must not create it again.
        .set("allow.auto.create.topics", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create_with_context(Deliveries {
            shared: shared.clone(),
            acks_all: spec.acks == "all",
        })?;
    let mut rng = fastrand::Rng::new();
    let started = Instant::now();
    let (mut seq, mut bytes) = (0u64, 0f64);
    while !shared.stop.load(Ordering::Relaxed) {
        let due = started.elapsed().as_secs_f64() * spec.bytes_per_s;
        // At most a second's worth of catching up after a stall.
        bytes = bytes.max(due - spec.bytes_per_s);
        while bytes < due {
            let id = record_id(spec.id, seq);
            let (key, payload) = (id.to_string(), value(id));
            // Counted in flight under the read lock: once a retiring topic
            // is off the list, nothing new is counted for it.
            let topic = {
                let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
                if live.is_empty() {
                    bytes = due;
                    break;
                }
                let topic = live[rng.usize(..live.len())].clone();
                topic.in_flight.fetch_add(1, Ordering::SeqCst);
                topic
            };
            let pending = Box::new(Pending {
                topic: topic.clone(),
                id,
                sent_at: Instant::now(),
            });
            let mut record = BaseRecord::with_opaque_to(&topic.name, pending)
                .key(&key)
                .payload(&payload);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        producer.poll(Duration::from_millis(10));
                        record = back;
                    }
                    Err((e, _)) => {
                        topic.in_flight.fetch_sub(1, Ordering::SeqCst);
                        anyhow::bail!("producer {}: {e}", spec.id);
                    }
                }
            }
            shared.sent.fetch_add(1, Ordering::Relaxed);
            seq += 1;
            bytes += payload.len() as f64;
        }
        producer.poll(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(())
}

/// A member of `topic`'s group for `lifetime` or until `stop`: checks the
/// bytes of every record, commits what it processed every half second
/// (only partitions owned since the last revocation, so that it never moves
/// another member's offset back), then commits once more and leaves.
pub fn member(
    bootstrap: &str,
    topic: Arc<TopicLedger>,
    lifetime: Duration,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &topic.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("queued.max.messages.kbytes", "2048");
    let context = GroupMember::for_config(&mut config);
    let consumer: BaseConsumer<GroupMember> = config.create_with_context(context)?;
    consumer.subscribe(&[&topic.name])?;
    shared.members_joined.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut processed: BTreeMap<i32, i64> = BTreeMap::new();
    let (mut revocations_seen, mut last_commit) = (0, Instant::now());
    while started.elapsed() < lifetime && !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(100));
        let revocations = consumer.context().revocations();
        if revocations != revocations_seen {
            revocations_seen = revocations;
            processed.clear();
        }
        match polled {
            Some(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                let id = message
                    .key()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| k.parse::<u64>().ok());
                match id {
                    Some(id) if message.payload() == Some(value(id).as_slice()) => {
                        shared.consumed.fetch_add(1, Ordering::Relaxed);
                        topic.consumed(partition, offset, id);
                    }
                    _ => topic.problem(format!(
                        "{} {partition}/{offset}: key {:?} does not match its value",
                        topic.name,
                        message.key().map(String::from_utf8_lossy)
                    )),
                }
                processed.insert(partition, offset + 1);
            }
            Some(Err(_)) => {
                shared.consumer_errors.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        if last_commit.elapsed() >= Duration::from_millis(500) {
            last_commit = Instant::now();
            commit(&consumer, &topic.name, &mut processed, &shared);
        }
    }
    commit(&consumer, &topic.name, &mut processed, &shared);
    leave_group(&consumer, Duration::from_secs(30));
    drop(consumer);
    shared.members_left.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn commit(
    consumer: &BaseConsumer<GroupMember>,
    topic: &str,
    processed: &mut BTreeMap<i32, i64>,
    shared: &Shared,
) {
    if processed.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (&partition, &next) in processed.iter() {
        if list
            .add_partition_offset(topic, partition, Offset::Offset(next))
            .is_err()
        {
            return;
        }
    }
    if consumer.commit(&list, CommitMode::Sync).is_ok() {
        shared.commits.fetch_add(1, Ordering::Relaxed);
        processed.clear();
    } else {
        shared.commit_failures.fetch_add(1, Ordering::Relaxed);
    }
}
