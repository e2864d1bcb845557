//! DescribeTransactions and ListTransactions through their handlers, over
//! a real coordinator's state.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, ListTransactionsRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_transactions::{self, offsets_partition_of};
use super::list_transactions;
use super::test_support::{assert_encodes, ctx, test_broker, TestBroker};
use crate::groups::group::now_ms;
use crate::internal_topics::CONSUMER_OFFSETS;
use crate::transactions::{ProducerIdAndEpoch, TxnProducer};

fn id(name: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(name.to_string()))
}

async fn init(broker: &TestBroker, name: &str) -> ProducerIdAndEpoch {
    broker
        .transactions
        .init_producer_id(name, 45_000, None, now_ms())
        .await
        .expect("InitProducerId")
}

/// "open": an Ongoing transaction started 10 s ago over t-1, t-0 and group
/// "g"; "idle": initialized, nothing open; "done": one started now.
async fn broker_with_transactions() -> (TestBroker, ProducerIdAndEpoch, ProducerIdAndEpoch) {
    let broker = test_broker().await;
    let open = init(&broker, "open").await;
    let producer = |name, p: ProducerIdAndEpoch| TxnProducer {
        transactional_id: name,
        producer_id: p.producer_id,
        epoch: p.epoch,
    };
    let partitions = vec![("t".to_string(), 1), ("t".to_string(), 0)];
    broker
        .transactions
        .add(
            producer("open", open),
            partitions,
            vec!["g".to_string()],
            0,
            now_ms() - 10_000,
        )
        .await
        .expect("added");
    let idle = init(&broker, "idle").await;
    let done = init(&broker, "done").await;
    broker
        .transactions
        .add(
            producer("done", done),
            Vec::new(),
            vec!["g".into()],
            0,
            now_ms(),
        )
        .await
        .expect("added");
    (broker, open, idle)
}

#[tokio::test]
async fn describe_answers_each_id_from_the_coordinator() {
    let (broker, open, idle) = broker_with_transactions().await;
    let mut request = DescribeTransactionsRequest::default();
    request.transactional_ids = vec![id("open"), id("idle"), id("unknown"), id("")];
    let response =
        describe_transactions::handle(&broker, &ctx(ApiKey::DescribeTransactions, 0), request)
            .await;
    assert_encodes(&response, 0);
    let states = &response.transaction_states;
    assert_eq!(states.len(), 4);
    let described = &states[0];
    assert_eq!(
        (described.error_code, described.transaction_state.as_str()),
        (0, "Ongoing")
    );
    assert_eq!(
        (described.producer_id.0, described.producer_epoch),
        (open.producer_id, open.epoch)
    );
    assert_eq!(described.transaction_timeout_ms, 45_000);
    let age = now_ms() - described.transaction_start_time_ms;
    assert!((10_000..20_000).contains(&age), "started {age} ms ago");
    let topics: Vec<(String, Vec<i32>)> = described
        .topics
        .iter()
        .map(|t| (t.topic.to_string(), t.partitions.clone()))
        .collect();
    let offsets_partitions = broker.topics.get(CONSUMER_OFFSETS).unwrap().partitions;
    assert_eq!(
        topics,
        vec![
            (
                CONSUMER_OFFSETS.to_string(),
                vec![offsets_partition_of("g", offsets_partitions)]
            ),
            ("t".to_string(), vec![0, 1]),
        ]
    );
    let idle_state = &states[1];
    assert_eq!(idle_state.transaction_state.as_str(), "Empty");
    assert_eq!(idle_state.producer_id.0, idle.producer_id);
    assert_eq!(idle_state.transaction_start_time_ms, -1);
    assert!(idle_state.topics.is_empty());
    assert_eq!(
        states[2].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );
    assert_eq!(states[2].transactional_id.as_str(), "unknown");
    assert_eq!(states[3].error_code, ResponseError::InvalidRequest.code());
}

#[test]
fn groups_land_on_the_offsets_partition_kafka_picks() {
    // Java: "hello".hashCode() == 99162322.
    assert_eq!(offsets_partition_of("hello", 50), 99_162_322 % 50);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Kafka's
    // Utils.abs answers 0 for it.
    assert_eq!(offsets_partition_of("polygenelubricants", 50), 0);
    assert_eq!(offsets_partition_of("hello", 1), 0);
    // Negative hash codes are negated, not masked: the partitions Kafka
    // 4.1.1 names in DescribeTransactions (scripts/diffcheck), where
    // clearing the sign bit gives 25 and 7.
    assert_eq!(offsets_partition_of("diff-txn-elsewhere", 50), 23);
    assert_eq!(offsets_partition_of("diff-txn-group-open", 50), 41);
}

async fn list(broker: &TestBroker, version: i16, request: ListTransactionsRequest) -> Vec<String> {
    let response =
        list_transactions::handle(broker, &ctx(ApiKey::ListTransactions, version), request).await;
    assert_encodes(&response, version);
    assert_eq!(response.error_code, 0);
    response
        .transaction_states
        .iter()
        .map(|s| format!("{}:{}", s.transactional_id.as_str(), s.transaction_state))
        .collect()
}

#[tokio::test]
async fn list_filters_by_state_producer_duration_and_pattern() {
    let (broker, open, _) = broker_with_transactions().await;
    let all = list(&broker, 0, ListTransactionsRequest::default()).await;
    assert_eq!(all, vec!["done:Ongoing", "idle:Empty", "open:Ongoing"]);

    let mut by_state = ListTransactionsRequest::default();
    by_state.state_filters = vec![StrBytes::from_static_str("Ongoing")];
    assert_eq!(
        list(&broker, 0, by_state).await,
        vec!["done:Ongoing", "open:Ongoing"]
    );

    let mut unknown = ListTransactionsRequest::default();
    unknown.state_filters = vec![
        StrBytes::from_static_str("Empty"),
        StrBytes::from_static_str("Stuck"),
    ];
    let response =
        list_transactions::handle(&broker, &ctx(ApiKey::ListTransactions, 0), unknown).await;
    assert_eq!(
        response.unknown_state_filters,
        vec![StrBytes::from_static_str("Stuck")]
    );
    assert_eq!(response.transaction_states.len(), 1);

    let mut by_producer = ListTransactionsRequest::default();
    by_producer.producer_id_filters = vec![ProducerId(open.producer_id), ProducerId(999_999)];
    assert_eq!(list(&broker, 0, by_producer).await, vec!["open:Ongoing"]);

    // Running longer than 5 s: the one started 10 s ago, and the idle id,
    // whose start time is -1 (Kafka 4.1.1 lists Empty ids under any
    // duration filter: scripts/diffcheck). v0 has no duration field, so
    // it lists everything.
    let mut long = ListTransactionsRequest::default();
    long.duration_filter = 5_000;
    assert_eq!(
        list(&broker, 1, long.clone()).await,
        vec!["idle:Empty", "open:Ongoing"]
    );
    long.duration_filter = 60_000;
    assert_eq!(list(&broker, 1, long.clone()).await, vec!["idle:Empty"]);
    assert_eq!(list(&broker, 0, long).await.len(), 3);

    // v2: the pattern must match the whole id.
    let mut pattern = ListTransactionsRequest::default();
    pattern.duration_filter = -1;
    pattern.transactional_id_pattern = Some(StrBytes::from_static_str("o.e|d"));
    assert!(list(&broker, 2, pattern.clone()).await.is_empty());
    pattern.transactional_id_pattern = Some(StrBytes::from_static_str("[do].*n.*"));
    assert_eq!(
        list(&broker, 2, pattern.clone()).await,
        vec!["done:Ongoing", "open:Ongoing"]
    );
    pattern.transactional_id_pattern = Some(StrBytes::from_static_str(""));
    assert_eq!(list(&broker, 2, pattern.clone()).await.len(), 3);
    pattern.transactional_id_pattern = Some(StrBytes::from_static_str("(unclosed"));
    let response =
        list_transactions::handle(&broker, &ctx(ApiKey::ListTransactions, 2), pattern).await;
    assert_eq!(
        response.error_code,
        ResponseError::InvalidRegularExpression.code()
    );
}
