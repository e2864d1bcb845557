//! Client quotas enforced on real clients (librdkafka through `rdkafka`):
//! a producer and a consumer pushing as fast as they can are held to their
//! byte rates, within ±20% over 10 s, and are told they were throttled
//! (librdkafka's per-broker `throttle` statistic, from the responses'
//! throttle_time_ms); the quota of a client id or user beats the default
//! one; connections over an address's creation rate are closed. Each test
//! runs its own broker, so the two 10 s measurements run side by side.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestBroker;
use fjord_broker::quotas::entity::entity_of;
use fjord_broker::quotas::Alteration;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

/// How long each rate is measured.
const MEASURED: Duration = Duration::from_secs(10);
const PAYLOAD: usize = 1000;

/// Keeps the largest throttle librdkafka reports for any broker.
#[derive(Clone, Default)]
struct ThrottleSeen(Arc<AtomicI64>);

impl ClientContext for ThrottleSeen {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(throttle) = &broker.throttle {
                self.0.fetch_max(throttle.max, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for ThrottleSeen {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

impl rdkafka::consumer::ConsumerContext for ThrottleSeen {}

/// An entity's `(type, name)` pairs, a key and its value.
type Setting<'a> = (&'a [(&'a str, Option<&'a str>)], &'a str, f64);

/// Sets quotas on the broker, as AlterClientQuotas does (the admin API
/// itself is tested with confluent-kafka's AdminClient).
async fn set_quotas(broker: &TestBroker, quotas: &[Setting<'_>]) {
    let alterations = quotas
        .iter()
        .map(|(entity, key, value)| Alteration {
            entity: entity_of(entity.iter().copied()),
            ops: vec![(key.to_string(), Some(*value))],
        })
        .collect();
    let results = broker
        .running()
        .broker()
        .quotas
        .alter(alterations, false)
        .await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
}

fn within_20_percent(measured: f64, expected: f64, what: &str) {
    let ratio = measured / expected;
    eprintln!("{what}: {measured:.0} B/s against a quota of {expected:.0} B/s ({ratio:.2}×)");
    assert!(
        (0.8..=1.2).contains(&ratio),
        "{what}: {measured:.0} B/s against a quota of {expected:.0} B/s ({ratio:.2}×)"
    );
}

/// A client id's producer_byte_rate (1 MB/s) beats the default client
/// id's (100 KB/s), and holds a producer to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_is_held_to_its_byte_rate_and_told_it_was_throttled() {
    let rate = 1_048_576.0;
    let broker = TestBroker::start(&[]).await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("produce-quota");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    set_quotas(
        &broker,
        &[
            (&[("client-id", None)], "producer_byte_rate", 102_400.0),
            (
                &[("client-id", Some("quota-producer"))],
                "producer_byte_rate",
                rate,
            ),
        ],
    )
    .await;
    let seen = ThrottleSeen::default();
    let producer: BaseProducer<ThrottleSeen> = common::producer_config(
        &bootstrap,
        &[
            ("client.id", "quota-producer"),
            ("acks", "1"),
            ("batch.size", "16384"),
            ("compression.type", "none"),
            ("statistics.interval.ms", "500"),
        ],
    )
    .create_with_context(seen.clone())
    .expect("producer");
    let log = broker.topics().partition(&topic, 0).expect("partition");
    let payload = vec![b'p'; PAYLOAD];
    let pushed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        while started.elapsed() < MEASURED {
            let record = BaseRecord::<(), _>::to(&topic)
                .partition(0)
                .payload(&payload);
            if producer.send(record).is_err() {
                producer.poll(Duration::from_millis(5));
            }
        }
        let stored = log.size_bytes();
        // Let the statistics of the last throttled answers come in.
        for _ in 0..10 {
            producer.poll(Duration::from_millis(100));
        }
        producer.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        stored
    });
    let stored = pushed.await.expect("producer thread") as f64;
    within_20_percent(stored / MEASURED.as_secs_f64(), rate, "produced");
    let throttled = seen.0.load(Ordering::Relaxed);
    assert!(throttled > 0, "librdkafka saw no throttle_time_ms");
}

/// The user's consumer_byte_rate (1 MB/s) beats the default client id's
/// (64 KB/s), and holds a consumer to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_is_held_to_its_byte_rate_and_told_it_was_throttled() {
    let rate = 1_048_576.0;
    let broker = TestBroker::start(&[]).await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("fetch-quota");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    // 16 MB, more than 10 s at the quota (with the first window's burst).
    fill(&bootstrap, &topic, 16 << 20).await;
    set_quotas(
        &broker,
        &[
            (&[("client-id", None)], "consumer_byte_rate", 65_536.0),
            (&[("user", Some("ANONYMOUS"))], "consumer_byte_rate", rate),
        ],
    )
    .await;
    let seen = ThrottleSeen::default();
    let consumer: BaseConsumer<ThrottleSeen> = common::consumer_config(
        &bootstrap,
        &[
            ("client.id", "quota-consumer"),
            ("max.partition.fetch.bytes", "65536"),
            ("statistics.interval.ms", "500"),
        ],
    )
    .create_with_context(seen.clone())
    .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let received = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut bytes = 0usize;
        while started.elapsed() < MEASURED {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                bytes += message.payload().map_or(0, <[u8]>::len);
            }
        }
        for _ in 0..10 {
            consumer.poll(Duration::from_millis(100));
        }
        bytes
    });
    let received = received.await.expect("consumer thread") as f64;
    within_20_percent(received / MEASURED.as_secs_f64(), rate, "consumed");
    let throttled = seen.0.load(Ordering::Relaxed);
    assert!(throttled > 0, "librdkafka saw no throttle_time_ms");
}

/// Writes `bytes` of 1000-byte records, unthrottled (no quota yet), and
/// uncompressed: the quota counts the bytes on the wire.
async fn fill(bootstrap: &str, topic: &str, bytes: usize) {
    let producer: BaseProducer = common::producer_config(
        bootstrap,
        &[
            ("acks", "1"),
            ("compression.type", "none"),
            ("linger.ms", "20"),
        ],
    )
    .create()
    .expect("producer");
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let payload = vec![b'c'; PAYLOAD];
        for _ in 0..bytes / PAYLOAD {
            let mut record = BaseRecord::<(), _>::to(&topic)
                .partition(0)
                .payload(&payload);
            while let Err((_, back)) = producer.send(record) {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
        }
        producer.flush(common::WAIT).expect("flushed");
    })
    .await
    .expect("fill");
}

/// With connection_creation_rate 1/s for the default IP, the first ten
/// connections (the window's allowance) are served and the next is closed
/// unserved.
#[tokio::test]
async fn connections_over_the_creation_rate_are_closed() {
    let broker = TestBroker::start(&[]).await;
    set_quotas(
        &broker,
        &[(&[("ip", None)], "connection_creation_rate", 1.0)],
    )
    .await;
    let addr = broker.running().local_addr();
    let mut open = Vec::new();
    for i in 0..10 {
        let mut stream = common::raw::connect(addr).await;
        common::raw::api_versions_answered(&mut stream, i).await;
        open.push(stream);
    }
    let mut refused = common::raw::connect(addr).await;
    common::raw::expect_closed(&mut refused, "the eleventh connection in a second").await;
}

/// request_percentage: handler time beyond the share answers with
/// throttle_time_ms, and the connection's next request is answered only
/// after that time (KIP-219: the broker mutes the connection).
#[tokio::test]
async fn request_time_over_its_share_throttles_and_mutes_the_connection() {
    let broker = TestBroker::start(&[]).await;
    // 0.001% of a thread: 0.1 ms of handling per 10 s window.
    set_quotas(&broker, &[(&[("user", None)], "request_percentage", 0.001)]).await;
    let mut stream = common::raw::connect(broker.running().local_addr()).await;
    let mut throttle = 0;
    for correlation_id in (0..1000).step_by(2) {
        throttle = metadata(&mut stream, correlation_id).await;
        if throttle > 0 {
            break;
        }
    }
    assert!(throttle > 0, "never throttled");
    assert!(throttle <= 1000, "capped at one sample window: {throttle}");
    let asked = Instant::now();
    metadata(&mut stream, 1000).await;
    let waited = asked.elapsed();
    eprintln!("throttled for {throttle} ms; the next answer came after {waited:?}");
    assert!(
        waited >= Duration::from_millis(throttle as u64 * 9 / 10),
        "answered after {waited:?}, throttled for {throttle} ms"
    );
    // Metadata v5 predates KIP-219: its throttled answer itself is held back.
    let asked = Instant::now();
    let old_throttle = metadata(&mut stream, 1001).await;
    let waited = asked.elapsed();
    eprintln!("v5: throttled for {old_throttle} ms, answered after {waited:?}");
    assert!(old_throttle > 0, "still over the quota");
    assert!(
        waited >= Duration::from_millis(old_throttle as u64 * 9 / 10),
        "v5 answered after {waited:?}, throttled for {old_throttle} ms"
    );
}

/// Sends a Metadata v12 request (v5 for an odd correlation id); its
/// answer's throttle_time_ms.
async fn metadata(stream: &mut tokio::net::TcpStream, correlation_id: i32) -> i32 {
    use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use tokio::io::AsyncWriteExt;

    let (version, header_version) = if correlation_id % 2 == 1 {
        (5, 0)
    } else {
        (12, 1)
    };
    let frame = common::raw::request(
        ApiKey::Metadata,
        version,
        correlation_id,
        &MetadataRequest::default(),
    );
    stream.write_all(&frame).await.expect("send Metadata");
    let mut answer = common::raw::read_frame(stream).await;
    let header = ResponseHeader::decode(&mut answer, header_version).expect("header");
    assert_eq!(header.correlation_id, correlation_id);
    MetadataResponse::decode(&mut answer, version)
        .expect("Metadata response")
        .throttle_time_ms
}
