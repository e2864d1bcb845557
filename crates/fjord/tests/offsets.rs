//! ListOffsets through rdkafka: by timestamp (`offsets_for_times`) and the
//! earliest/latest watermarks.

mod common;

use common::AnyBroker;
use futures::future::join_all;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;

/// Produces `timestamps.len()` records to one partition, in separate flushes
/// of `per_batch` so that the log holds several batches.
async fn produce_with_timestamps(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    timestamps: &[i64],
    per_batch: usize,
) {
    let producer = common::producer(
        bootstrap,
        &[("acks", "all"), ("compression.type", "snappy")],
    );
    let values: Vec<String> = (0..timestamps.len())
        .map(|i| format!("record {i}"))
        .collect();
    for (chunk_index, chunk) in timestamps.chunks(per_batch).enumerate() {
        let mut deliveries = Vec::new();
        for (j, ts) in chunk.iter().enumerate() {
            let i = chunk_index * per_batch + j;
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(&values[i])
                .timestamp(*ts);
            deliveries.push(producer.send(record, Timeout::After(common::WAIT)));
        }
        for (j, delivery) in join_all(deliveries).await.into_iter().enumerate() {
            let d = delivery.unwrap_or_else(|(e, _)| panic!("delivery: {e}"));
            assert_eq!(d.offset, (chunk_index * per_batch + j) as i64);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_for_times_finds_exact_offsets() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("by-time");
    common::create_topic(&bootstrap, &topic, 2, &[]).await;

    // Partition 0: 1000 records with timestamps base, base+10, base+20, ...
    let base = common::now_ms() - 86_400_000;
    let monotonic: Vec<i64> = (0..1000).map(|i| base + 10 * i).collect();
    produce_with_timestamps(&bootstrap, &topic, 0, &monotonic, 97).await;

    // Partition 1: timestamps out of order; Kafka answers the first offset
    // whose timestamp is >= the target.
    let unordered = [base + 100, base + 300, base + 200, base + 400, base + 50];
    produce_with_timestamps(&bootstrap, &topic, 1, &unordered, 2).await;

    let cases_p0 = [
        (base - 1_000_000, Some(0)),
        (base, Some(0)),
        (base + 1, Some(1)),
        (base + 10, Some(1)),
        (base + 5_005, Some(501)),
        (base + 9_700, Some(970)),
        (base + 9_990, Some(999)),
        (base + 9_991, None),
    ];
    for (ts, expected) in cases_p0 {
        assert_eq!(
            common::offset_for_time(&bootstrap, &topic, 0, ts).await,
            expected,
            "partition 0, timestamp base+{}",
            ts - base
        );
    }
    let cases_p1 = [
        (base, Some(0)),
        (base + 150, Some(1)),
        (base + 250, Some(1)),
        (base + 350, Some(3)),
        (base + 400, Some(3)),
        (base + 401, None),
    ];
    for (ts, expected) in cases_p1 {
        assert_eq!(
            common::offset_for_time(&bootstrap, &topic, 1, ts).await,
            expected,
            "partition 1, timestamp base+{}",
            ts - base
        );
    }

    assert_eq!(common::watermarks(&bootstrap, &topic, 0).await, (0, 1000));
    assert_eq!(common::watermarks(&bootstrap, &topic, 1).await, (0, 5));
}

#[tokio::test(flavor = "multi_thread")]
async fn watermarks_of_empty_and_filled_partitions() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("watermarks");
    common::create_topic(&bootstrap, &topic, 3, &[]).await;

    let now = common::now_ms();
    produce_with_timestamps(&bootstrap, &topic, 2, &vec![now; 42], 10).await;

    assert_eq!(common::watermarks(&bootstrap, &topic, 0).await, (0, 0));
    assert_eq!(common::watermarks(&bootstrap, &topic, 1).await, (0, 0));
    assert_eq!(common::watermarks(&bootstrap, &topic, 2).await, (0, 42));
    // An empty partition has no record at any timestamp.
    assert_eq!(
        common::offset_for_time(&bootstrap, &topic, 0, 0).await,
        None
    );
    // Equal timestamps: the first of them.
    assert_eq!(
        common::offset_for_time(&bootstrap, &topic, 2, now).await,
        Some(0)
    );
}
