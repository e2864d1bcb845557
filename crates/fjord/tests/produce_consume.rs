//! Produce with rdkafka for every compression codec and acks value, consume
//! back by assignment, and check every field; again after a restart.

mod common;

use std::collections::BTreeMap;

use common::{AnyBroker, Consumed};
use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, Timestamp};

const PARTITIONS: i32 = 4;
const RECORDS: usize = 2000;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const ACKS: [&str; 3] = ["0", "1", "all"];

/// What one topic should hold once produced: records in produce order.
struct Produced {
    topic: String,
    acks: &'static str,
    /// (key, value, timestamp, delivery report (partition, offset)).
    sent: Vec<Sent>,
}

struct Sent {
    key: Vec<u8>,
    value: Vec<u8>,
    timestamp: i64,
    partition: i32,
    /// None for acks=0: librdkafka gets no answer, so no offset.
    offset: Option<i64>,
}

fn headers_for(i: usize) -> Vec<(String, Option<Vec<u8>>)> {
    let mut headers = vec![
        ("index".to_string(), Some(i.to_string().into_bytes())),
        ("kind".to_string(), Some(b"test".to_vec())),
    ];
    if i.is_multiple_of(3) {
        headers.push(("nothing".to_string(), None));
    }
    if i.is_multiple_of(5) {
        // Repeated header names are allowed and kept in order.
        headers.push(("index".to_string(), Some(Vec::new())));
    }
    headers
}

fn value_for(topic: &str, i: usize) -> Vec<u8> {
    // Compressible but not constant, and varying in length.
    format!("{topic}:{i}:{}", "v".repeat(i % 200)).into_bytes()
}

async fn produce_all(
    bootstrap: &str,
    topic: &str,
    codec: &str,
    acks: &'static str,
    base_ts: i64,
) -> Produced {
    let producer = common::producer(
        bootstrap,
        &[
            ("compression.type", codec),
            ("acks", acks),
            ("batch.num.messages", "500"),
        ],
    );
    let mut deliveries = Vec::with_capacity(RECORDS);
    let mut sent = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let key = format!("key-{i}").into_bytes();
        let value = value_for(topic, i);
        let timestamp = base_ts + i as i64;
        let mut headers = OwnedHeaders::new();
        for (name, value) in headers_for(i) {
            headers = headers.insert(Header {
                key: &name,
                value: value.as_deref(),
            });
        }
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&value)
            .timestamp(timestamp)
            .headers(headers);
        let delivery = producer
            .send_result(record)
            .unwrap_or_else(|(e, _)| panic!("enqueue {i}: {e}"));
        deliveries.push(delivery);
        sent.push(Sent {
            key,
            value,
            timestamp,
            partition: -1,
            offset: None,
        });
    }
    let reports = join_all(deliveries).await;
    for (i, report) in reports.into_iter().enumerate() {
        let delivery = report
            .expect("delivery future not cancelled")
            .unwrap_or_else(|(e, _)| panic!("{topic}: record {i} not delivered: {e}"));
        sent[i].partition = delivery.partition;
        sent[i].offset = (acks != "0").then_some(delivery.offset);
    }
    producer.flush(Timeout::After(common::WAIT)).expect("flush");
    Produced {
        topic: topic.to_string(),
        acks,
        sent,
    }
}

/// Consumes every partition of the topic from the beginning and checks each
/// record against what was produced; returns what was consumed.
async fn check_topic(bootstrap: &str, produced: &Produced) -> Vec<Consumed> {
    let topic = &produced.topic;
    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    let consumed = common::consume_n(
        bootstrap,
        topic,
        &partitions,
        Offset::Beginning,
        RECORDS,
        common::WAIT,
    )
    .await;

    // Expected per partition, in produce order: offsets 0, 1, 2, ...
    let mut expected: BTreeMap<i32, Vec<&Sent>> = BTreeMap::new();
    for s in &produced.sent {
        expected.entry(s.partition).or_default().push(s);
    }
    assert_eq!(
        expected.len(),
        PARTITIONS as usize,
        "{topic}: keys should spread over all partitions"
    );
    let got = common::by_partition(&consumed);
    for (partition, sent) in &expected {
        let records = got
            .get(partition)
            .unwrap_or_else(|| panic!("{topic}: nothing consumed from partition {partition}"));
        assert_eq!(
            records.len(),
            sent.len(),
            "{topic}/{partition}: record count"
        );
        for (n, (record, s)) in records.iter().zip(sent).enumerate() {
            let i: usize = std::str::from_utf8(&s.key[4..]).unwrap().parse().unwrap();
            assert_eq!(
                record.offset, n as i64,
                "{topic}/{partition}: offsets contiguous from 0"
            );
            if let Some(offset) = s.offset {
                assert_eq!(
                    record.offset, offset,
                    "{topic}/{partition}: offset matches the delivery report (acks={})",
                    produced.acks
                );
            }
            assert_eq!(
                record.key.as_deref(),
                Some(&s.key[..]),
                "{topic}/{partition}@{n}: key"
            );
            assert_eq!(
                record.value.as_deref(),
                Some(&s.value[..]),
                "{topic}/{partition}@{n}: value"
            );
            assert_eq!(
                record.headers,
                headers_for(i),
                "{topic}/{partition}@{n}: headers"
            );
            assert_eq!(
                record.timestamp,
                Timestamp::CreateTime(s.timestamp),
                "{topic}/{partition}@{n}: timestamp"
            );
        }
        let (low, high) = common::watermarks(bootstrap, topic, *partition).await;
        assert_eq!(
            (low, high),
            (0, sent.len() as i64),
            "{topic}/{partition}: watermarks"
        );
    }
    consumed
}

#[tokio::test(flavor = "multi_thread")]
async fn every_codec_and_acks_round_trips_and_survives_restart() {
    let mut broker = AnyBroker::start().await;
    let base_ts = common::now_ms() - 3_600_000;

    let mut produced = Vec::new();
    for codec in CODECS {
        for acks in ACKS {
            let topic = common::unique_topic(&format!("pc-{codec}-acks{acks}"));
            common::create_topic(&broker.bootstrap(), &topic, PARTITIONS, &[]).await;
            produced.push(produce_all(&broker.bootstrap(), &topic, codec, acks, base_ts).await);
        }
    }

    let mut before = Vec::new();
    for p in &produced {
        before.push(check_topic(&broker.bootstrap(), p).await);
    }

    let Some(broker) = broker.fjord_to_restart("the restart at the end of ") else {
        return;
    };
    broker.restart().await;

    for (p, before) in produced.iter().zip(&before) {
        let after = check_topic(&broker.bootstrap(), p).await;
        let mut before = before.clone();
        let mut after = after;
        let order = |r: &Consumed| (r.partition, r.offset);
        before.sort_by_key(order);
        after.sort_by_key(order);
        assert!(before == after, "{}: records differ after restart", p.topic);
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_append_time_topic_stamps_broker_time() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("log-append-time");
    common::create_topic(
        &bootstrap,
        &topic,
        2,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;

    let before = common::now_ms();
    let producer = common::producer(&bootstrap, &[("acks", "all"), ("compression.type", "lz4")]);
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let values: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
    let mut deliveries = Vec::new();
    for i in 0..200 {
        // A CreateTime far in the past: the broker must replace it.
        let record = FutureRecord::to(&topic)
            .key(&keys[i])
            .payload(&values[i])
            .timestamp(1_000_000 + i as i64);
        deliveries.push(producer.send(record, Timeout::After(common::WAIT)));
    }
    for delivery in join_all(deliveries).await {
        delivery.unwrap_or_else(|(e, _)| panic!("delivery: {e}"));
    }
    let after = common::now_ms();

    let consumed = common::consume_n(
        &bootstrap,
        &topic,
        &[0, 1],
        Offset::Beginning,
        200,
        common::WAIT,
    )
    .await;
    for record in &consumed {
        match record.timestamp {
            Timestamp::LogAppendTime(ts) => assert!(
                (before..=after).contains(&ts),
                "LogAppendTime {ts} outside the produce window [{before}, {after}]"
            ),
            other => panic!("expected a LogAppendTime timestamp, got {other:?}"),
        }
    }
    // Records keep their order and contents.
    for (_, records) in common::by_partition(&consumed) {
        for (n, record) in records.iter().enumerate() {
            assert_eq!(record.offset, n as i64);
            let key = std::str::from_utf8(record.key.as_deref().unwrap()).unwrap();
            let value = std::str::from_utf8(record.value.as_deref().unwrap()).unwrap();
            assert_eq!(&key[1..], &value[1..], "key and value belong together");
        }
    }
}
