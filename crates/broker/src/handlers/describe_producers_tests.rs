//! DescribeProducers through its handler: the producers a partition's log
//! knows, with their open transaction, and Kafka's per-partition errors.

use fjord_storage::{Durability, TxnMarker};
use fjord_testkit::batches;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_producers;
use super::test_support::{assert_encodes, broker_with_topic, ctx, TestBroker};

async fn describe(broker: &TestBroker, topics: &[(&str, &[i32])]) -> DescribeProducersResponse {
    let mut request = DescribeProducersRequest::default();
    request.topics = topics
        .iter()
        .map(|(name, partitions)| {
            let mut topic = TopicRequest::default();
            topic.name = TopicName(StrBytes::from_string(name.to_string()));
            topic.partition_indexes = partitions.to_vec();
            topic
        })
        .collect();
    let response =
        describe_producers::handle(broker, &ctx(ApiKey::DescribeProducers, 0), request).await;
    assert_encodes(&response, 0);
    response
}

/// (producer id, epoch, last sequence, last timestamp, coordinator epoch,
/// transaction start) of each producer of the one partition asked.
fn producers(response: &DescribeProducersResponse) -> Vec<(i64, i32, i32, i64, i32, i64)> {
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.coordinator_epoch,
                p.current_txn_start_offset,
            )
        })
        .collect()
}

#[tokio::test]
async fn producers_and_their_open_transactions_are_described() {
    let broker = broker_with_topic("t", 2).await;
    // Nothing written yet: no producers.
    assert!(producers(&describe(&broker, &[("t", &[0])]).await).is_empty());

    let log = broker.topics.partition("t", 0).expect("partition");
    let at = batches::now_ms();
    log.append(
        batches::idempotent_batch(3, 7, 1, 0, at),
        Durability::Written,
    )
    .await
    .unwrap();
    log.append(
        batches::transactional_batch(2, 9, 4, 0, at + 1),
        Durability::Written,
    )
    .await
    .unwrap();
    assert_eq!(
        producers(&describe(&broker, &[("t", &[0])]).await),
        vec![(7, 1, 2, at, -1, -1), (9, 4, 1, at + 1, -1, 3)]
    );

    let marker = TxnMarker {
        producer_id: 9,
        producer_epoch: 4,
        commit: true,
        coordinator_epoch: 2,
    };
    log.append_marker(marker).await.unwrap();
    let described = producers(&describe(&broker, &[("t", &[0])]).await);
    // The marker's time, its coordinator epoch, no transaction open; the
    // same epoch keeps the last sequence (transaction version 0/1).
    let marker_time = described[1].3;
    assert!(marker_time >= at, "{described:?}");
    assert_eq!(
        described,
        vec![(7, 1, 2, at, -1, -1), (9, 4, 1, marker_time, 2, -1)]
    );
    // The other partition has its own producers.
    assert!(producers(&describe(&broker, &[("t", &[1])]).await).is_empty());
}

#[tokio::test]
async fn unknown_and_invalid_topics_and_partitions_are_answered_per_partition() {
    let broker = broker_with_topic("t", 1).await;
    let response = describe(
        &broker,
        &[
            ("t", &[0, 5, -1]),
            ("missing", &[0, 1]),
            ("bad/name", &[0]),
            // Hidden from clients as in Metadata: not a topic they may name.
            ("__transaction_state", &[0]),
        ],
    )
    .await;
    let answers: Vec<(String, i32, i16, Option<String>)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
        })
        .collect();
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    // Kafka's `new ApiError(UNKNOWN_TOPIC_OR_PARTITION)` message for a
    // topic-wide error; none for a partition's own.
    let unknown_topic = || Some("This server does not host this topic-partition.".to_string());
    let invalid = Some(
        "Topic name \"bad/name\" is illegal, it contains a character other than \
         ASCII alphanumerics, '.', '_' and '-'"
            .to_string(),
    );
    assert_eq!(
        answers,
        vec![
            ("t".into(), 0, 0, None),
            ("t".into(), 5, unknown, None),
            ("t".into(), -1, unknown, None),
            ("missing".into(), 0, unknown, unknown_topic()),
            ("missing".into(), 1, unknown, unknown_topic()),
            (
                "bad/name".into(),
                0,
                ResponseError::InvalidTopicException.code(),
                invalid
            ),
            ("__transaction_state".into(), 0, unknown, unknown_topic()),
        ]
    );
}

#[tokio::test]
async fn the_offsets_topic_is_described_without_producers() {
    let broker = broker_with_topic("t", 1).await;
    let partitions = broker
        .topics
        .get("__consumer_offsets")
        .expect("offsets topic")
        .partitions;
    let response = describe(&broker, &[("__consumer_offsets", &[0, partitions])]).await;
    let answers: Vec<(i32, i16, usize)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.active_producers.len()))
        .collect();
    assert_eq!(
        answers,
        vec![
            (0, 0, 0),
            (partitions, ResponseError::UnknownTopicOrPartition.code(), 0)
        ]
    );
}
