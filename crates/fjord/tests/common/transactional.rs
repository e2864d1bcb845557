//! Helpers for tests of transactional producers and the consumers that
//! read what they wrote: a transactional producer, and reads of one
//! partition at either isolation level.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{blocking, consumer_config, producer_config, Consumed, WAIT};

pub const READ_COMMITTED: &str = "read_committed";
pub const READ_UNCOMMITTED: &str = "read_uncommitted";

/// A producer with `transactional.id` = `id`, transactions initialised.
/// Blocking: call it from `blocking`.
pub fn transactional_producer(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let producer: BaseProducer = producer_config(
        bootstrap,
        &[
            ("transactional.id", id),
            ("enable.idempotence", "true"),
            ("transaction.timeout.ms", "60000"),
        ],
    )
    .set_all(extra)
    .create()
    .expect("create transactional producer");
    producer
        .init_transactions(WAIT)
        .unwrap_or_else(|e| panic!("init_transactions for {id}: {e}"));
    producer
}

trait SetAll {
    fn set_all(&mut self, extra: &[(&str, &str)]) -> &mut Self;
}

impl SetAll for rdkafka::ClientConfig {
    fn set_all(&mut self, extra: &[(&str, &str)]) -> &mut Self {
        for (name, value) in extra {
            self.set(*name, *value);
        }
        self
    }
}

/// Produces `values` to partition 0 of `topic` inside the producer's open
/// transaction and flushes them (each acknowledged). Blocking.
pub fn send_values(producer: &BaseProducer, topic: &str, values: &[String]) {
    for value in values {
        let mut record = BaseRecord::<(), String>::to(topic)
            .partition(0)
            .payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) => {
                    assert!(
                        matches!(
                            e.rdkafka_error_code(),
                            Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ),
                        "queueing {value}: {e}"
                    );
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
            }
        }
    }
    producer
        .flush(WAIT)
        .expect("flush the transaction's records");
}

/// An assign()-only consumer at `isolation` (read_committed or read_uncommitted).
pub fn isolated_consumer(bootstrap: &str, isolation: &str) -> BaseConsumer {
    consumer_config(bootstrap, &[("isolation.level", isolation)])
        .create()
        .expect("create consumer")
}

/// What a consumer at `isolation` reads from `partition` of `topic` from
/// the start: waits for `expected` records, then `settle` more so that
/// anything extra would show.
pub async fn read_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    isolation: &str,
    expected: usize,
    settle: Duration,
) -> Vec<Consumed> {
    let (bootstrap, topic, isolation) = (
        bootstrap.to_string(),
        topic.to_string(),
        isolation.to_string(),
    );
    blocking(move || {
        let consumer = isolated_consumer(&bootstrap, &isolation);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("add partition");
        consumer.assign(&assignment).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + WAIT;
        let mut settled: Option<Instant> = None;
        loop {
            if out.len() >= expected && settled.is_none() {
                settled = Some(Instant::now() + settle);
            }
            let now = Instant::now();
            if now > deadline || settled.is_some_and(|until| now > until) {
                return out;
            }
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.unwrap_or_else(|e| panic!("consuming {topic}: {e}"));
                out.push(Consumed::from_message(&message.detach()));
            }
        }
    })
    .await
}

/// (offset, value) of each record, for comparing with what was produced.
pub fn offsets_and_values(records: &[Consumed]) -> Vec<(i64, String)> {
    records
        .iter()
        .map(|r| {
            let value = r.value.as_deref().unwrap_or_default();
            (r.offset, String::from_utf8_lossy(value).into_owned())
        })
        .collect()
}

/// Numbers `values` from `first_offset` on.
pub fn at(first_offset: i64, values: &[String]) -> Vec<(i64, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (first_offset + i as i64, v.clone()))
        .collect()
}

/// Checks what each isolation level reads of partition 0 after a committed
/// transaction of `first` (offsets 0..5 and its marker), an aborted one of
/// `aborted` (6..10 and its marker) and a committed one of `second` (from
/// 11): read_committed sees both committed ones at their offsets,
/// read_uncommitted everything.
pub async fn assert_committed_aborted_committed(
    bootstrap: &str,
    topic: &str,
    (first, aborted, second): (&[String], &[String], &[String]),
    settle: Duration,
) {
    let second_at = 2 + (first.len() + aborted.len()) as i64;
    let committed = [at(0, first), at(second_at, second)].concat();
    let read = read_partition(bootstrap, topic, 0, READ_COMMITTED, committed.len(), settle).await;
    assert_eq!(offsets_and_values(&read), committed, "read_committed");
    let aborted_at = 1 + first.len() as i64;
    let everything = [at(0, first), at(aborted_at, aborted), at(second_at, second)].concat();
    let read = read_partition(
        bootstrap,
        topic,
        0,
        READ_UNCOMMITTED,
        everything.len(),
        settle,
    )
    .await;
    assert_eq!(offsets_and_values(&read), everything, "read_uncommitted");
}

/// The last stable offset (read_committed) or high watermark
/// (read_uncommitted) of partition 0, as ListOffsets answers it.
pub async fn end_offset(bootstrap: &str, topic: &str, isolation: &str) -> i64 {
    let (bootstrap, topic, isolation) = (
        bootstrap.to_string(),
        topic.to_string(),
        isolation.to_string(),
    );
    blocking(move || {
        let consumer = isolated_consumer(&bootstrap, &isolation);
        let (_, high) = consumer
            .fetch_watermarks(&topic, 0, WAIT)
            .expect("ListOffsets");
        high
    })
    .await
}

/// `values` tagged `tag`-0, `tag`-1, ...
pub fn tagged(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}
