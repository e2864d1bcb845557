//! Two clients change one topic at once, through the handlers: the outcome
//! is Kafka's, whichever request gets there first (issue 8).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::handlers::test_support::{ctx, test_broker};
use crate::handlers::{create_partitions, create_topics, delete_topics};

fn name(topic: &str) -> TopicName {
    StrBytes::from(topic.to_string()).into()
}

async fn create(broker: Arc<Broker>, topic: String, partitions: i32) -> (i16, Option<String>) {
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name(&topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)]);
    let response = create_topics::handle(&broker, &ctx(ApiKey::CreateTopics, 7), request).await;
    let result = &response.topics[0];
    (
        result.error_code,
        result.error_message.as_deref().map(str::to_owned),
    )
}

async fn grow(broker: Arc<Broker>, topic: String, count: i32) -> (i16, Option<String>) {
    let request =
        CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name(&topic))
            .with_count(count)
            .with_assignments(None)]);
    let response =
        create_partitions::handle(&broker, &ctx(ApiKey::CreatePartitions, 3), request).await;
    let result = &response.results[0];
    (
        result.error_code,
        result.error_message.as_deref().map(str::to_owned),
    )
}

async fn delete(broker: Arc<Broker>, topic: String) -> i16 {
    let request = DeleteTopicsRequest::default().with_topic_names(vec![name(&topic)]);
    let response = delete_topics::handle(&broker, &ctx(ApiKey::DeleteTopics, 5), request).await;
    response.responses[0].error_code
}

/// The two answers, the successful one first; panics unless exactly one succeeded.
fn one_wins<T: std::fmt::Debug>(a: (i16, T), b: (i16, T)) -> ((i16, T), (i16, T)) {
    match (a.0, b.0) {
        (0, code) if code != 0 => (a, b),
        (code, 0) if code != 0 => (b, a),
        _ => panic!("exactly one should win: {a:?} / {b:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_topic_have_one_winner() {
    let test = test_broker().await;
    let broker = test.shared();
    for round in 0..10 {
        let topic = format!("race-{round}");
        let (a, b) = tokio::join!(
            tokio::spawn(create(broker.clone(), topic.clone(), 2)),
            tokio::spawn(create(broker.clone(), topic.clone(), 5)),
        );
        let (won, lost) = one_wins(a.unwrap(), b.unwrap());
        assert_eq!(won.1, None);
        assert_eq!(
            lost,
            (
                ResponseError::TopicAlreadyExists.code(),
                Some(format!("Topic '{topic}' already exists."))
            )
        );
        let created = broker.topics.get(&topic).unwrap();
        assert!([2, 5].contains(&created.partitions), "{created:?}");
        let partitions = created.partitions;
        assert!((0..partitions).all(|p| broker.topics.partition(&topic, p).is_some()));

        // Both ask for the same count: the second is told it is there.
        let target = partitions + 3;
        let (a, b) = tokio::join!(
            tokio::spawn(grow(broker.clone(), topic.clone(), target)),
            tokio::spawn(grow(broker.clone(), topic.clone(), target)),
        );
        let (_, lost) = one_wins(a.unwrap(), b.unwrap());
        assert_eq!(
            lost,
            (
                ResponseError::InvalidPartitions.code(),
                Some(format!("Topic already has {target} partitions."))
            )
        );
        assert_eq!(broker.topics.get(&topic).unwrap().partitions, target);
        assert!(broker.topics.partition(&topic, target - 1).is_some());

        let (a, b) = tokio::join!(
            tokio::spawn(delete(broker.clone(), topic.clone())),
            tokio::spawn(delete(broker.clone(), topic.clone())),
        );
        let (_, lost) = one_wins((a.unwrap(), ()), (b.unwrap(), ()));
        assert_eq!(lost.0, ResponseError::UnknownTopicOrPartition.code());
        assert!(broker.topics.get(&topic).is_none());
        assert!(broker.topics.partition(&topic, 0).is_none());
    }
}
