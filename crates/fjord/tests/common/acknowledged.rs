//! Helpers for tests that hold the broker to what it acknowledged: producing
//! with every delivery report recorded, reading a topic back whole, and a
//! group's committed offsets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{blocking, consume_n, consumer_config, watermarks, Consumed, WAIT};

/// A record whose delivery report came back OK: its sequence number and
/// where the broker said it stored it.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub seq: u64,
    pub partition: i32,
    pub offset: i64,
}

/// Sends `record(seq)` (key, value) for seq = 0, 1, … with up to `in_flight`
/// records awaiting their delivery report, until `stop`; then waits for the
/// reports still due. Every OK report goes to `delivered`. Returns how many
/// records were sent.
pub async fn produce_until_stopped(
    producer: FutureProducer,
    topic: String,
    record: impl Fn(u64) -> (String, Vec<u8>),
    in_flight: usize,
    stop: Arc<AtomicBool>,
    delivered: Arc<Mutex<Vec<Delivered>>>,
) -> u64 {
    let mut inflight = FuturesUnordered::new();
    let mut seq = 0u64;
    loop {
        while !stop.load(Ordering::Relaxed) && inflight.len() < in_flight {
            let (key, value) = record(seq);
            match producer.send_result(FutureRecord::to(&topic).key(&key).payload(&value)) {
                Ok(delivery) => {
                    let this = seq;
                    inflight.push(delivery.map(move |report| (this, report)));
                    seq += 1;
                }
                // librdkafka's queue is full: let deliveries finish first.
                Err(_) => break,
            }
        }
        match inflight.next().await {
            Some((seq, Ok(Ok(d)))) => delivered.lock().expect("delivered list").push(Delivered {
                seq,
                partition: d.partition,
                offset: d.offset,
            }),
            // Failed or timed out: not acknowledged, maybe stored.
            Some(_) => {}
            None if stop.load(Ordering::Relaxed) => return seq,
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// The group's committed offset of each partition of `topic` that has one,
/// as a fresh client of the group sees it (OffsetFetch; it does not join).
pub async fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    let (bootstrap, group, topic) = (bootstrap.to_string(), group.to_string(), topic.to_string());
    blocking(move || {
        let consumer: BaseConsumer = consumer_config(&bootstrap, &[("group.id", &group)])
            .create()
            .expect("create consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        let answer = consumer.committed_offsets(tpl, WAIT).expect("OffsetFetch");
        answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
}

/// Reads partitions 0..`partitions` of `topic`, each from offset 0 (its log
/// start must be 0) to its high watermark.
pub async fn read_everything(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Vec<Consumed> {
    let mut total = 0;
    for p in 0..partitions {
        let (low, high) = watermarks(bootstrap, topic, p).await;
        assert_eq!(low, 0, "partition {p}: log start moved");
        total += high as usize;
    }
    let all: Vec<i32> = (0..partitions).collect();
    consume_n(bootstrap, topic, &all, Offset::Beginning, total, timeout).await
}
