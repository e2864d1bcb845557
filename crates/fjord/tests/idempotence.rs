//! Idempotent produce through the real binary: a producer's retry of a
//! batch the broker already wrote is answered with the original offsets,
//! also after a kill -9 and a restart (the producer state is rebuilt from
//! the log), and the log holds each record once (raw Produce requests with
//! a fixed producer id and epoch, as an idempotent client sends them).
//! librdkafka's idempotent producer writes each record once, in order,
//! through a kill -9 and restart, and through connections cut under it (a
//! proxy between it and the broker).

mod common;

use std::net::SocketAddr;

use common::proxy::CuttableProxy;
use common::raw::produce_raw;
use common::BinaryBroker;
use fjord_testkit::batches::idempotent_batch;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

const PRODUCER_ID: i64 = 7001;
const EPOCH: i16 = 0;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// Sends `count` records from sequence `sequence`; (error code, base offset).
async fn send(
    broker: &BinaryBroker,
    topic: &str,
    count: usize,
    epoch: i16,
    sequence: i32,
) -> (i16, i64) {
    let addr: SocketAddr = broker.bootstrap.parse().expect("broker address");
    let batch = idempotent_batch(count, PRODUCER_ID, epoch, sequence, common::now_ms());
    produce_raw(addr, topic, batch).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_kill_9_and_restart_gets_the_original_offsets() {
    if common::skipped_for_external("kills and restarts its broker") {
        return;
    }
    common::init_logging();
    let data = tempfile::tempdir().unwrap();
    let topic = common::unique_topic("idempotent");
    let broker = BinaryBroker::start(data.path(), &[]);
    common::create_topic(&broker.bootstrap, &topic, 1, &[]).await;
    assert_eq!(send(&broker, &topic, 3, EPOCH, 0).await, (0, 0));
    assert_eq!(send(&broker, &topic, 2, EPOCH, 3).await, (0, 3));
    assert_eq!(send(&broker, &topic, 1, EPOCH, 5).await, (0, 5));
    // A retry while the broker runs.
    assert_eq!(send(&broker, &topic, 2, EPOCH, 3).await, (0, 3));
    broker.kill9();

    let broker = BinaryBroker::start(data.path(), &[]);
    // The answers to the requests the producer never saw, as it retries them.
    assert_eq!(send(&broker, &topic, 2, EPOCH, 3).await, (0, 3));
    assert_eq!(send(&broker, &topic, 1, EPOCH, 5).await, (0, 5));
    assert_eq!(send(&broker, &topic, 1, EPOCH, 6).await, (0, 6));
    let (gap, _) = send(&broker, &topic, 1, EPOCH, 9).await;
    assert_eq!(gap, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(send(&broker, &topic, 1, EPOCH + 1, 0).await, (0, 7));
    let (fenced, _) = send(&broker, &topic, 1, EPOCH, 7).await;
    assert_eq!(fenced, INVALID_PRODUCER_EPOCH);

    assert_eq!(
        common::watermarks(&broker.bootstrap, &topic, 0).await,
        (0, 8)
    );
    let consumed = common::consume_n(
        &broker.bootstrap,
        &topic,
        &[0],
        Offset::Beginning,
        8,
        common::WAIT,
    )
    .await;
    let values: Vec<String> = consumed
        .iter()
        .map(|record| {
            String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned()
        })
        .collect();
    let expected: Vec<String> = (0..7).chain(0..1).map(|seq| format!("seq-{seq}")).collect();
    assert_eq!(values, expected);
    let offsets: Vec<i64> = consumed.iter().map(|record| record.offset).collect();
    assert_eq!(offsets, (0..8).collect::<Vec<_>>());
}

/// librdkafka's idempotent producer, acks=all, retrying through restarts.
fn idempotent_producer(bootstrap: &str) -> rdkafka::producer::FutureProducer {
    common::producer(
        bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("batch.num.messages", "50"),
            ("message.timeout.ms", "60000"),
            ("reconnect.backoff.ms", "50"),
            ("reconnect.backoff.max.ms", "200"),
        ],
    )
}

/// Partition 0 of `topic` holds `record-0` .. `record-<records - 1>` at
/// offsets 0 .. records, and nothing else.
async fn assert_log_holds_each_record_once(bootstrap: &str, topic: &str, records: usize) {
    assert_eq!(
        common::watermarks(bootstrap, topic, 0).await,
        (0, records as i64),
        "each record stored once"
    );
    let consumed = common::consume_n(
        bootstrap,
        topic,
        &[0],
        Offset::Beginning,
        records,
        common::WAIT,
    )
    .await;
    for (i, record) in consumed.iter().enumerate() {
        let expected = format!("record-{i}");
        assert_eq!(
            record.value.as_deref(),
            Some(expected.as_bytes()),
            "offset {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_producer_through_kill_9_and_restart_writes_each_record_once() {
    if common::skipped_for_external("kills and restarts its broker") {
        return;
    }
    common::init_logging();
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", common::free_port());
    let topic = common::unique_topic("idempotent-rdkafka");
    let broker = BinaryBroker::start_listening(&listen, data.path(), &[]);
    common::create_topic(&broker.bootstrap, &topic, 1, &[]).await;
    let producer = idempotent_producer(&broker.bootstrap);
    const RECORDS: usize = 4000;
    let mut deliveries = Vec::with_capacity(RECORDS);
    // (record, offset) as acknowledged.
    let mut acknowledged = Vec::with_capacity(RECORDS);
    let mut broker = Some(broker);
    for i in 0..RECORDS {
        // Queued in order here (send_result does not wait), so the log
        // must hold them in this order too.
        let value = format!("record-{i}");
        let record = FutureRecord::<(), _>::to(&topic)
            .partition(0)
            .payload(&value);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push((i, delivery)),
            Err((err, _)) => panic!("record {i} not queued: {err}"),
        }
        if i == RECORDS / 2 {
            // Mid-stream: once a quarter is acknowledged the rest of the
            // first half is in flight, some of it written but not answered.
            let (_, quarter) = deliveries.remove(RECORDS / 4);
            match quarter.await.expect("delivery future") {
                Ok(delivered) => acknowledged.push((RECORDS / 4, delivered.offset)),
                Err((err, _)) => panic!("record {} not delivered: {err}", RECORDS / 4),
            }
            if let Some(running) = broker.take() {
                running.kill9();
            }
            broker = Some(BinaryBroker::start_listening(&listen, data.path(), &[]));
        }
    }
    for (i, delivery) in deliveries {
        match delivery.await.expect("delivery future") {
            Ok(delivered) => acknowledged.push((i, delivered.offset)),
            Err((err, _)) => panic!("record {i} not delivered: {err}"),
        }
    }
    acknowledged.sort_unstable();
    let offsets: Vec<i64> = acknowledged.iter().map(|(_, offset)| *offset).collect();
    assert_eq!(
        offsets,
        (0..RECORDS as i64).collect::<Vec<_>>(),
        "each record acknowledged at its own offset, in order"
    );
    let broker = broker.expect("running broker");
    assert_log_holds_each_record_once(&broker.bootstrap, &topic, RECORDS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_producer_through_cut_connections_and_a_restart_writes_each_record_once() {
    if common::skipped_for_external("cuts its broker's connections and kills it") {
        return;
    }
    common::init_logging();
    let data = tempfile::tempdir().unwrap();
    let proxy = CuttableProxy::start().await;
    let advertised = format!("PLAINTEXT://{}", proxy.addr);
    let overrides = [("advertised.listeners", advertised.as_str())];
    let mut broker = BinaryBroker::start(data.path(), &overrides);
    proxy.forward_to(&broker.bootstrap);
    let bootstrap = proxy.addr.to_string();
    let topic = common::unique_topic("idempotent-cut");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    let producer = idempotent_producer(&bootstrap);
    const RECORDS: usize = 6000;
    let mut deliveries = Vec::with_capacity(RECORDS);
    let mut cuts = 0;
    for i in 0..RECORDS {
        let value = format!("record-{i}");
        let record = FutureRecord::<(), _>::to(&topic)
            .partition(0)
            .payload(&value);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(Some(delivery)),
            Err((err, _)) => panic!("record {i} not queued: {err}"),
        }
        if i > 0 && i % (RECORDS / 4) == 0 {
            // Mid-stream: once a record well behind is acknowledged, the
            // ones after it are in flight, some written and not answered.
            let behind = i - RECORDS / 8;
            if let Some(delivery) = deliveries[behind].take() {
                let report = delivery.await.expect("delivery future");
                let delivered = report.unwrap_or_else(|(e, _)| panic!("record {behind}: {e}"));
                assert_eq!(delivered.offset, behind as i64, "record {behind}");
            }
            if i == 3 * RECORDS / 4 {
                broker.kill9();
                broker = BinaryBroker::start(data.path(), &overrides);
                proxy.forward_to(&broker.bootstrap);
            } else {
                cuts += usize::from(proxy.cut() > 0);
            }
        }
    }
    assert_eq!(cuts, 2, "each cut dropped open connections");
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let Some(delivery) = delivery else { continue };
        let report = delivery.await.expect("delivery future");
        let delivered = report.unwrap_or_else(|(e, _)| panic!("record {i} not delivered: {e}"));
        assert_eq!(
            delivered.offset, i as i64,
            "record {i} acknowledged at its own offset"
        );
    }
    assert_log_holds_each_record_once(&bootstrap, &topic, RECORDS).await;
}
