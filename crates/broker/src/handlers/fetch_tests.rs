//! Fetch size limits and repeated partitions, against Kafka's rules (see the
//! notes at the top of `fetch.rs`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::fetch::handle;
use super::test_support::{append_batch, ctx, test_broker, test_broker_with, TestBroker};
use crate::broker::Broker;
use kafka_protocol::messages::ApiKey;

const VERSION: i16 = 12;

pub(super) async fn create(broker: &Broker, topic: &str) {
    broker
        .topics
        .create(topic, 1, BTreeMap::new(), false)
        .await
        .expect("topic created");
}

fn partition(fetch_offset: i64, max_bytes: i32) -> FetchPartition {
    let mut p = FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = fetch_offset;
    p.partition_max_bytes = max_bytes;
    p
}

fn topic(name: &str, partitions: Vec<FetchPartition>) -> FetchTopic {
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(name.to_string()));
    t.partitions = partitions;
    t
}

fn request(max_bytes: i32, topics: Vec<FetchTopic>) -> FetchRequest {
    let mut r = FetchRequest::default();
    r.max_wait_ms = 0;
    r.min_bytes = 0;
    r.max_bytes = max_bytes;
    r.topics = topics;
    r
}

fn records_len(response: &FetchResponse) -> Vec<Vec<usize>> {
    response
        .responses
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| p.records.as_ref().map_or(0, Bytes::len))
                .collect()
        })
        .collect()
}

fn encoded_size(response: &FetchResponse) -> usize {
    response.compute_size(VERSION).expect("sizes")
}

/// A partition of `batches` batches of about `batch_bytes` each; returns the
/// stored batch sizes.
async fn fill(broker: &TestBroker, name: &str, batches: usize, batch_bytes: usize) -> Vec<usize> {
    create(broker, name).await;
    let mut sizes = Vec::with_capacity(batches);
    for _ in 0..batches {
        let values = vec![Bytes::from(vec![b'v'; batch_bytes / 8]); 8];
        sizes.push(append_batch(broker, name, 0, values).await);
    }
    sizes
}

#[tokio::test]
async fn max_int_max_bytes_is_capped_by_fetch_max_bytes() {
    // Kafka's default fetch.max.bytes (55 MiB) against a 64 MiB partition.
    let broker = test_broker().await;
    let sizes = fill(&broker, "big", 128, 512 * 1024).await;
    let stored: usize = sizes.iter().sum();
    let cap = 57_671_680;
    assert!(stored > cap);
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(i32::MAX, vec![topic("big", vec![partition(0, i32::MAX)])]),
    )
    .await;
    let got = records_len(&response)[0][0];
    // Whole batches up to the cap: within one batch of it, never over.
    assert!(got <= cap, "{got} bytes of records");
    assert!(got > cap - sizes[0], "{got} bytes of records");
    assert!(encoded_size(&response) < cap + 1024);
}

#[tokio::test]
async fn broker_fetch_max_bytes_caps_every_response() {
    let broker = test_broker_with(|c| c.with("fetch.max.bytes", 64 * 1024)).await;
    let sizes = fill(&broker, "t", 40, 8 * 1024).await;
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(i32::MAX, vec![topic("t", vec![partition(0, i32::MAX)])]),
    )
    .await;
    let got = records_len(&response)[0][0];
    assert!(got <= 64 * 1024 && got > 64 * 1024 - sizes[0], "{got}");
}

#[tokio::test]
async fn max_bytes_zero_returns_only_the_first_batch() {
    let broker = test_broker().await;
    let a = fill(&broker, "a", 3, 4096).await;
    fill(&broker, "b", 3, 4096).await;
    let mut fetch = request(
        0,
        vec![
            topic("a", vec![partition(0, i32::MAX)]),
            topic("b", vec![partition(0, i32::MAX)]),
        ],
    );
    // min_bytes is capped by the response limit, so this does not wait.
    fetch.min_bytes = 1 << 20;
    fetch.max_wait_ms = 10_000;
    let started = Instant::now();
    let response = handle(&broker, &ctx(ApiKey::Fetch, VERSION), fetch).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(records_len(&response), vec![vec![a[0]], vec![0]]);
}

#[tokio::test]
async fn a_partition_listed_three_times_is_answered_once_with_its_last_fields() {
    let broker = test_broker().await;
    let sizes = fill(&broker, "a", 4, 4096).await;
    fill(&broker, "b", 1, 4096).await;
    // Offsets 0, 8, 16 are the starts of the first three batches (8 records each).
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            0,
            vec![
                topic("a", vec![partition(0, i32::MAX)]),
                topic("b", vec![partition(0, 0)]),
                topic("a", vec![partition(8, i32::MAX), partition(16, i32::MAX)]),
            ],
        ),
    )
    .await;
    let names: Vec<&str> = response
        .responses
        .iter()
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    // One answer for "a", at its first position, read from offset 16 (its
    // last mention), and only the first batch under max_bytes = 0.
    assert_eq!(records_len(&response), vec![vec![sizes[2]], vec![0]]);
    let records = response.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap();
    let base_offset = i64::from_be_bytes(records[..8].try_into().unwrap());
    assert_eq!(base_offset, 16);
    assert!(encoded_size(&response) < sizes[2] + 1024);
}

#[tokio::test]
async fn consecutive_mentions_of_a_topic_share_one_response_topic() {
    let broker = test_broker().await;
    create(&broker, "a").await;
    let mut p1 = partition(0, 1024);
    p1.partition = 1;
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            1 << 20,
            vec![topic("a", vec![partition(0, 1024)]), topic("a", vec![p1])],
        ),
    )
    .await;
    assert_eq!(response.responses.len(), 1);
    let indexes: Vec<i32> = response.responses[0]
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(indexes, vec![0, 1]);
    // Partition 1 does not exist (one partition): answered, with its error.
    assert_eq!(
        response.responses[0].partitions[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[tokio::test]
async fn partition_max_bytes_holds_after_the_first_batch() {
    let broker = test_broker().await;
    let a = fill(&broker, "a", 2, 4096).await;
    let b = fill(&broker, "b", 2, 4096).await;
    // The first partition's first batch comes whole though larger than its
    // partition limit; the second partition's limit then holds.
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            1 << 20,
            vec![
                topic("a", vec![partition(0, 100)]),
                topic("b", vec![partition(0, 100)]),
            ],
        ),
    )
    .await;
    assert_eq!(records_len(&response), vec![vec![a[0]], vec![0]]);
    // A partition limit of one and a half batches gives one batch.
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            1 << 20,
            vec![topic("b", vec![partition(0, (b[0] * 3 / 2) as i32)])],
        ),
    )
    .await;
    assert_eq!(records_len(&response), vec![vec![b[0]]]);
}

#[tokio::test]
async fn an_empty_first_partition_passes_min_one_to_the_next() {
    let broker = test_broker().await;
    create(&broker, "empty").await;
    let b = fill(&broker, "b", 2, 4096).await;
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            0,
            vec![
                topic("empty", vec![partition(0, i32::MAX)]),
                topic("b", vec![partition(0, i32::MAX)]),
            ],
        ),
    )
    .await;
    assert_eq!(records_len(&response), vec![vec![0], vec![b[0]]]);
}

#[tokio::test]
async fn a_negative_limit_fails_only_where_there_is_data() {
    let broker = test_broker().await;
    fill(&broker, "a", 1, 4096).await;
    let end = broker.topics.partition("a", 0).unwrap().high_watermark();
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            1 << 20,
            vec![topic("a", vec![partition(0, -1)]), topic("a", vec![])],
        ),
    )
    .await;
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, ResponseError::UnknownServerError.code());
    // At the high watermark there is nothing to read, so no error.
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(1 << 20, vec![topic("a", vec![partition(end, -1)])]),
    )
    .await;
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0);
    assert_eq!(data.high_watermark, end);
}

/// Error partitions are shaped as Kafka 4.1 shapes them (found by
/// scripts/diffcheck): a failed read reports no offsets and a null
/// aborted-transactions list; an unknown partition an empty list.
#[tokio::test]
async fn error_partitions_carry_kafkas_placeholders() {
    let broker = test_broker().await;
    fill(&broker, "a", 1, 100).await;
    let mut unknown = partition(0, 1 << 20);
    unknown.partition = 9;
    let response = handle(
        &broker,
        &ctx(ApiKey::Fetch, VERSION),
        request(
            1 << 20,
            vec![topic("a", vec![partition(99, 1 << 20), unknown])],
        ),
    )
    .await;
    let out_of_range = &response.responses[0].partitions[0];
    assert_eq!(
        out_of_range.error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    assert_eq!(
        (
            out_of_range.high_watermark,
            out_of_range.last_stable_offset,
            out_of_range.log_start_offset
        ),
        (-1, -1, -1)
    );
    assert_eq!(out_of_range.aborted_transactions, None);
    let unknown = &response.responses[0].partitions[1];
    assert_eq!(
        unknown.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(unknown.high_watermark, -1);
    assert_eq!(unknown.aborted_transactions, Some(Vec::new()));
}
