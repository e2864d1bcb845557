//! Idempotent produce through the real binary: a producer's retry of a
//! batch the broker already wrote is answered with the original offsets,
//! also after a kill -9 and a restart (the producer state is rebuilt from
//! the log), and the log holds each record once. Raw Produce requests with
//! a fixed producer id and epoch, as an idempotent client sends them.

mod common;

use std::net::SocketAddr;

use common::raw::produce_raw;
use common::BinaryBroker;
use fjord_testkit::batches::idempotent_batch;
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
