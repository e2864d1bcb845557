//! Values that clients compare with what Kafka 4.1 sends: success messages
//! (null, "" and "NONE" are three different answers on the wire) and the
//! authorized-operations bitfields.

use std::collections::BTreeMap;

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeConfigsRequest, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::test_support::{ctx, test_broker, TestBroker};
use super::{describe_configs, find_coordinator, metadata};
use kafka_protocol::messages::ApiKey;

/// The response as a client decodes it from the wire.
fn round_trip(response: &FindCoordinatorResponse, version: i16) -> FindCoordinatorResponse {
    let mut buf = BytesMut::new();
    response.encode(&mut buf, version).expect("encodes");
    FindCoordinatorResponse::decode(&mut buf.freeze(), version).expect("decodes")
}

#[tokio::test]
async fn find_coordinator_messages_are_kafkas() {
    let broker = test_broker().await;
    for version in 1..=3 {
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str("group"))
            .with_key_type(0);
        let response = round_trip(
            &find_coordinator::handle(&broker, &ctx(ApiKey::FindCoordinator, version), request)
                .await,
            version,
        );
        assert_eq!(response.error_code, 0);
        // Kafka sends Errors.NONE.message(), the name "NONE" (KafkaJS's own
        // test accepts null or "NONE"); an empty string matches neither.
        assert_eq!(
            response.error_message.as_deref(),
            Some("NONE"),
            "v{version}"
        );
        assert_eq!(response.node_id.0, broker.node_id());

        let bad = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str("group"))
            .with_key_type(7);
        let response = round_trip(
            &find_coordinator::handle(&broker, &ctx(ApiKey::FindCoordinator, version), bad).await,
            version,
        );
        assert_eq!(response.error_code, ResponseError::InvalidRequest.code());
        let message = response.error_message.unwrap_or_default();
        assert!(message.starts_with("This most likely occurs"), "{message}");
    }
    for version in 4..=6 {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
        let response = round_trip(
            &find_coordinator::handle(&broker, &ctx(ApiKey::FindCoordinator, version), request)
                .await,
            version,
        );
        // Kafka leaves a coordinator's message at its default: "".
        assert_eq!(response.coordinators[0].error_code, 0);
        assert_eq!(response.coordinators[0].error_message.as_deref(), Some(""));
    }
}

/// A broker with one topic, "t".
async fn broker_with_topic() -> TestBroker {
    let broker = test_broker().await;
    broker
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .expect("topic created");
    broker
}

#[tokio::test]
async fn describe_configs_success_message_is_empty_not_null() {
    let broker = broker_with_topic().await;
    let resource = DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("t"));
    let request = DescribeConfigsRequest::default().with_resources(vec![resource]);
    let response =
        describe_configs::handle(&broker, &ctx(ApiKey::DescribeConfigs, 4), request).await;
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(response.results[0].error_message.as_deref(), Some(""));
}

#[tokio::test]
async fn metadata_authorized_operations_are_kafkas() {
    let broker = broker_with_topic().await;
    let topic = MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from("t"))));
    let request = MetadataRequest::default()
        .with_topics(Some(vec![topic]))
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    let response = metadata::handle(&broker, &ctx(ApiKey::Metadata, 10), request).await;
    // Kafka 4.1 without an authorizer; 5624 (IDEMPOTENT_WRITE instead of
    // ALTER_CONFIGS) was Fjord's old answer for the topic.
    assert_eq!(response.topics[0].topic_authorized_operations, 3576);
    assert_eq!(response.cluster_authorized_operations, 8096);
}

/// A topic asked for by an unknown id (Metadata v10+): UNKNOWN_TOPIC_ID and
/// no name, whatever name the request carried (Kafka 4.1, found by
/// scripts/diffcheck: Fjord answered INVALID_TOPIC_EXCEPTION for the
/// empty name the id came with).
#[tokio::test]
async fn metadata_by_unknown_topic_id_is_unknown_topic_id() {
    let broker = broker_with_topic().await;
    let topic = MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from(""))))
        .with_topic_id(uuid::Uuid::from_u128(7));
    let request = MetadataRequest::default().with_topics(Some(vec![topic]));
    let response = metadata::handle(&broker, &ctx(ApiKey::Metadata, 12), request).await;
    assert_eq!(
        response.topics[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
    assert_eq!(response.topics[0].name, None);
    assert_eq!(response.topics[0].topic_id, uuid::Uuid::from_u128(7));
}

/// Before v12 Kafka serves no topic ids in Metadata: INVALID_REQUEST for
/// every topic, no brokers, no controller.
#[tokio::test]
async fn metadata_by_topic_id_before_v12_is_an_invalid_request() {
    let broker = broker_with_topic().await;
    let topic = MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from(""))))
        .with_topic_id(uuid::Uuid::from_u128(7));
    let request = MetadataRequest::default().with_topics(Some(vec![topic]));
    let response = metadata::handle(&broker, &ctx(ApiKey::Metadata, 11), request).await;
    assert!(response.brokers.is_empty());
    assert_eq!(response.controller_id.0, -1);
    assert_eq!(
        response.topics[0].error_code,
        ResponseError::InvalidRequest.code()
    );
}
