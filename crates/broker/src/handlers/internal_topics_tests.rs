//! `__consumer_offsets` and `__transaction_state` through every API that
//! names topics (issue 7, defect 7), and the cap on topics one Metadata
//! request auto-creates (defect 3).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeTopicPartitionsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker};
use super::{
    create_partitions, create_topics, delete_topics, describe_configs, describe_topic_partitions,
    fetch, list_offsets, metadata, produce,
};
use crate::internal_topics::{CONSUMER_OFFSETS, TRANSACTION_STATE};
use crate::topics::MAX_TOPICS_AUTO_CREATED_PER_REQUEST;
use kafka_protocol::messages::ApiKey;

fn name(n: &str) -> TopicName {
    StrBytes::from(n.to_string()).into()
}

fn metadata_for(names: &[&str]) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(true)
}

/// Nothing under an internal name reaches the metadata file or the disk.
fn assert_no_ordinary_topic(broker: &crate::broker::Broker, topic: &str) {
    assert!(broker.meta().topic(topic).is_none(), "{topic} was created");
    let prefix = format!("{topic}-");
    for entry in std::fs::read_dir(&broker.config.data_dir).unwrap() {
        let entry = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!entry.starts_with(&prefix), "{entry} was made");
    }
}

#[tokio::test]
async fn metadata_lists_consumer_offsets_as_internal() {
    let broker = test_broker().await;
    broker
        .topics
        .create("plain", 1, Default::default(), false)
        .await
        .unwrap();

    let all = metadata::handle(
        &broker,
        &ctx(ApiKey::Metadata, 12),
        MetadataRequest::default().with_topics(None),
    )
    .await;
    assert_encodes(&all, 12);
    let listed: Vec<_> = all
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().to_string(),
                t.is_internal,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (CONSUMER_OFFSETS.to_string(), true, 50),
            ("plain".to_string(), false, 1)
        ]
    );

    // Named, with auto-creation on: listed, not created as an ordinary topic.
    let named = metadata::handle(
        &broker,
        &ctx(ApiKey::Metadata, 12),
        metadata_for(&[CONSUMER_OFFSETS]),
    )
    .await;
    let topic = &named.topics[0];
    assert_eq!(topic.error_code, 0);
    assert!(topic.is_internal);
    assert_eq!(topic.partitions.len(), 50);
    assert_eq!(
        topic.topic_id,
        broker.topics.get(CONSUMER_OFFSETS).unwrap().id
    );
    assert!(!topic.topic_id.is_nil());
    assert_no_ordinary_topic(&broker, CONSUMER_OFFSETS);

    // __transaction_state exists only once transactions do.
    let txn = metadata::handle(
        &broker,
        &ctx(ApiKey::Metadata, 12),
        metadata_for(&[TRANSACTION_STATE]),
    )
    .await;
    assert_eq!(
        txn.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_no_ordinary_topic(&broker, TRANSACTION_STATE);
}

#[tokio::test]
async fn internal_names_cannot_be_created_grown_or_deleted() {
    let broker = test_broker().await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name(CONSUMER_OFFSETS))
            .with_num_partitions(3)
            .with_replication_factor(1),
        CreatableTopic::default()
            .with_name(name(TRANSACTION_STATE))
            .with_num_partitions(3)
            .with_replication_factor(1),
    ]);
    let created = create_topics::handle(&broker, &ctx(ApiKey::CreateTopics, 7), create).await;
    let codes: Vec<_> = created.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![
            ResponseError::TopicAlreadyExists.code(),
            ResponseError::InvalidTopicException.code()
        ]
    );

    let grow =
        CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name(CONSUMER_OFFSETS))
            .with_count(60)
            .with_assignments(None)]);
    let grown = create_partitions::handle(&broker, &ctx(ApiKey::CreatePartitions, 3), grow).await;
    assert_eq!(
        grown.results[0].error_code,
        ResponseError::InvalidTopicException.code()
    );

    let id = broker.topics.get(CONSUMER_OFFSETS).unwrap().id;
    let delete = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_name(Some(name(CONSUMER_OFFSETS))),
        DeleteTopicState::default().with_name(Some(name(TRANSACTION_STATE))),
    ]);
    let deleted = delete_topics::handle(&broker, &ctx(ApiKey::DeleteTopics, 6), delete).await;
    for result in &deleted.responses {
        assert_eq!(
            result.error_code,
            ResponseError::InvalidTopicException.code(),
            "{result:?}"
        );
    }
    let by_id = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let deleted = delete_topics::handle(&broker, &ctx(ApiKey::DeleteTopics, 6), by_id).await;
    assert_eq!(
        deleted.responses[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(broker.topics.get(CONSUMER_OFFSETS).unwrap().partitions, 50);
    assert_no_ordinary_topic(&broker, CONSUMER_OFFSETS);
    assert_no_ordinary_topic(&broker, TRANSACTION_STATE);
}

#[tokio::test]
async fn consumer_offsets_is_described_but_not_readable_or_writable() {
    let broker = test_broker().await;

    let fetch_request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(CONSUMER_OFFSETS))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let fetched = fetch::handle(&broker, &ctx(ApiKey::Fetch, 12), fetch_request).await;
    assert_eq!(
        fetched.responses[0].partitions[0].error_code,
        ResponseError::TopicAuthorizationFailed.code()
    );

    let list = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(name(CONSUMER_OFFSETS))
        .with_partitions(vec![ListOffsetsPartition::default()
            .with_partition_index(0)
            .with_timestamp(-1)])]);
    let listed = list_offsets::handle(&broker, &ctx(ApiKey::ListOffsets, 7), list).await;
    let answer = &listed.topics[0].partitions[0];
    assert_eq!((answer.error_code, answer.offset), (0, 0), "an empty log");

    let produce_request =
        ProduceRequest::default()
            .with_acks(1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(CONSUMER_OFFSETS))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(bytes::Bytes::from_static(
                        b"not even a batch",
                    )))])]);
    let produced = produce::handle(&broker, &ctx(ApiKey::Produce, 9), produce_request).await;
    assert_eq!(
        produced.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidTopicException.code()
    );

    let described = describe_topic_partitions::handle(
        &broker,
        &ctx(ApiKey::DescribeTopicPartitions, 0),
        DescribeTopicPartitionsRequest::default()
            .with_topics(vec![
                TopicRequest::default().with_name(name(CONSUMER_OFFSETS))
            ])
            .with_response_partition_limit(2000),
    )
    .await;
    let topic = &described.topics[0];
    assert_eq!(topic.error_code, 0);
    assert!(topic.is_internal);
    assert_eq!(topic.partitions.len(), 50);

    let configs = describe_configs::handle(
        &broker,
        &ctx(ApiKey::DescribeConfigs, 4),
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str(CONSUMER_OFFSETS))]),
    )
    .await;
    let result = &configs.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    let policy = result
        .configs
        .iter()
        .find(|c| c.name.as_str() == "cleanup.policy")
        .unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert_no_ordinary_topic(&broker, CONSUMER_OFFSETS);
}

/// One Metadata request naming many unknown topics created every one of
/// them (100,000 ran the broker out of file handles).
#[tokio::test]
async fn one_metadata_request_auto_creates_a_bounded_number_of_topics() {
    let broker = test_broker().await;
    let names: Vec<String> = (0..MAX_TOPICS_AUTO_CREATED_PER_REQUEST + 30)
        .map(|i| format!("wanted-{i}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();

    let first = metadata::handle(&broker, &ctx(ApiKey::Metadata, 12), metadata_for(&refs)).await;
    let created = first.topics.iter().filter(|t| t.error_code == 0).count();
    let later = first
        .topics
        .iter()
        .filter(|t| t.error_code == ResponseError::LeaderNotAvailable.code())
        .count();
    assert_eq!((created, later), (MAX_TOPICS_AUTO_CREATED_PER_REQUEST, 30));
    assert_eq!(
        broker.topics.all().len(),
        MAX_TOPICS_AUTO_CREATED_PER_REQUEST + 1
    );

    // A client retrying gets the rest.
    let second = metadata::handle(&broker, &ctx(ApiKey::Metadata, 12), metadata_for(&refs)).await;
    assert!(second.topics.iter().all(|t| t.error_code == 0));
    assert_eq!(broker.topics.all().len(), names.len() + 1);
}
