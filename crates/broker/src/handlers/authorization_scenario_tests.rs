//! Kafka's authorization rules as a client meets them: prefixed ACLs,
//! deny over allow, super users, transactional ids, Metadata hiding what a
//! principal may not describe, auto-creation, and the authorized-operations
//! bitfields.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;

use super::authorization_test_support::*;
use super::test_support::TestBroker;
use crate::acl::AclOperation::{self, *};
use crate::acl::{bitfield, ResourceType};
use crate::api::Request;
use crate::authorizer::bindings::{
    PATTERN_LITERAL, PATTERN_PREFIXED, PERMISSION_ALLOW, PERMISSION_DENY,
};
use crate::handlers::AUTHORIZED_OPERATIONS_OMITTED;

const TOPIC_DENIED: i16 = ResponseError::TopicAuthorizationFailed.code();
const TXN_DENIED: i16 = ResponseError::TransactionalIdAuthorizationFailed.code();

async fn broker_with_topics(topics: &[&str]) -> TestBroker {
    let broker = secured_broker().await;
    for topic in topics {
        broker
            .topics
            .create(topic, 1, Default::default(), false)
            .await
            .expect("topic created");
    }
    broker
}

fn allow(
    resource: ResourceType,
    name: &str,
    pattern: i8,
    op: AclOperation,
) -> fjord_storage::acls::StoredAcl {
    acl("User:alice", resource, name, pattern, op, PERMISSION_ALLOW)
}

fn produce(topic: &str, transactional_id: Option<&str>) -> Request {
    Request::Produce(
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_transactional_id(transactional_id.map(|id| TransactionalId(name(id))))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(name(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records()))])]),
    )
}

/// The one partition's code of a one-partition Produce answer.
async fn produce_code(broker: &TestBroker, user: &'static str, topic: &str) -> i16 {
    let response = send(broker, user, ApiKey::Produce, 9, produce(topic, None)).await;
    let ResponseKind::Produce(response) = response else {
        panic!("{response:?}")
    };
    response.responses[0].partition_responses[0].error_code
}

async fn fetch_code(broker: &TestBroker, topic: &str) -> i16 {
    let request = FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(name(topic)))
            .with_partitions(vec![
                FetchPartition::default().with_partition_max_bytes(1024)
            ])]);
    let response = send(broker, "alice", ApiKey::Fetch, 12, Request::Fetch(request)).await;
    let ResponseKind::Fetch(response) = response else {
        panic!("{response:?}")
    };
    response.responses[0].partitions[0].error_code
}

#[tokio::test]
async fn a_prefixed_acl_covers_its_topics_and_no_others() {
    let broker = broker_with_topics(&["orders-eu", "orders-us", "order", "payments"]).await;
    add_acls(
        &broker,
        vec![allow(
            ResourceType::Topic,
            "orders-",
            PATTERN_PREFIXED,
            Write,
        )],
    )
    .await;
    assert_eq!(produce_code(&broker, "alice", "orders-eu").await, 0);
    assert_eq!(produce_code(&broker, "alice", "orders-us").await, 0);
    assert_eq!(produce_code(&broker, "alice", "order").await, TOPIC_DENIED);
    assert_eq!(
        produce_code(&broker, "alice", "payments").await,
        TOPIC_DENIED
    );
    // A topic that does not exist is refused as one she may not write, so
    // that names cannot be probed.
    assert_eq!(
        produce_code(&broker, "alice", "missing").await,
        TOPIC_DENIED
    );
}

#[tokio::test]
async fn a_deny_overrides_an_allow() {
    let broker = broker_with_topics(&["open", "secret"]).await;
    add_acls(
        &broker,
        vec![
            allow(ResourceType::Topic, "*", PATTERN_LITERAL, All),
            acl(
                "User:alice",
                ResourceType::Topic,
                "secret",
                PATTERN_LITERAL,
                Read,
                PERMISSION_DENY,
            ),
        ],
    )
    .await;
    assert_eq!(fetch_code(&broker, "open").await, 0);
    assert_eq!(fetch_code(&broker, "secret").await, TOPIC_DENIED);
    // Deny Read leaves Write alone.
    assert_eq!(produce_code(&broker, "alice", "secret").await, 0);
}

#[tokio::test]
async fn a_super_user_passes_without_acls_and_others_do_not() {
    let broker = broker_with_topics(&["t"]).await;
    assert_eq!(produce_code(&broker, "admin", "t").await, 0);
    assert_eq!(produce_code(&broker, "alice", "t").await, TOPIC_DENIED);
    let cluster = |user| {
        let broker = &broker;
        async move {
            let request = Request::DescribeCluster(DescribeClusterRequest::default());
            match send(broker, user, ApiKey::DescribeCluster, 1, request).await {
                ResponseKind::DescribeCluster(r) => r.error_code,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(cluster("admin").await, 0);
    assert_eq!(
        cluster("alice").await,
        ResponseError::ClusterAuthorizationFailed.code()
    );
}

#[tokio::test]
async fn transactional_ids_need_their_own_acl() {
    let broker = broker_with_topics(&["t"]).await;
    add_acls(
        &broker,
        vec![allow(ResourceType::Topic, "*", PATTERN_LITERAL, All)],
    )
    .await;
    let init = |id: Option<&'static str>| {
        let broker = &broker;
        async move {
            let request = InitProducerIdRequest::default()
                .with_transactional_id(id.map(|id| TransactionalId(name(id))))
                .with_transaction_timeout_ms(60_000);
            let response = send(
                broker,
                "alice",
                ApiKey::InitProducerId,
                4,
                Request::InitProducerId(request),
            )
            .await;
            match response {
                ResponseKind::InitProducerId(r) => r.error_code,
                other => panic!("{other:?}"),
            }
        }
    };
    // Idempotence needs Cluster/IdempotentWrite or Write on some topic.
    assert_eq!(init(None).await, 0);
    assert_eq!(init(Some("tx")).await, TXN_DENIED);
    let response = send(
        &broker,
        "alice",
        ApiKey::Produce,
        9,
        produce("t", Some("tx")),
    )
    .await;
    let ResponseKind::Produce(response) = response else {
        panic!("{response:?}")
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        TXN_DENIED
    );

    add_acls(
        &broker,
        vec![allow(
            ResourceType::TransactionalId,
            "tx",
            PATTERN_LITERAL,
            Write,
        )],
    )
    .await;
    assert_eq!(init(Some("tx")).await, 0);
    assert_eq!(init(Some("other")).await, TXN_DENIED);
}

async fn metadata(broker: &TestBroker, request: MetadataRequest) -> MetadataResponse {
    match send(
        broker,
        "alice",
        ApiKey::Metadata,
        12,
        Request::Metadata(request),
    )
    .await
    {
        ResponseKind::Metadata(r) => r,
        other => panic!("{other:?}"),
    }
}

fn named(topic: &str) -> Option<Vec<MetadataRequestTopic>> {
    Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(name(topic))))
    ])
}

#[tokio::test]
async fn metadata_hides_topics_she_may_not_describe_and_reports_her_operations() {
    let broker = broker_with_topics(&["visible", "hidden"]).await;
    add_acls(
        &broker,
        vec![allow(
            ResourceType::Topic,
            "visible",
            PATTERN_LITERAL,
            Describe,
        )],
    )
    .await;

    let all = metadata(
        &broker,
        MetadataRequest::default()
            .with_topics(None)
            .with_include_topic_authorized_operations(true)
            .with_include_cluster_authorized_operations(true),
    )
    .await;
    let names: Vec<&str> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_deref().map(|n| n.as_str()))
        .collect();
    assert_eq!(names, ["visible"]);
    assert_eq!(
        all.topics[0].topic_authorized_operations,
        bitfield(&[Describe])
    );
    assert_eq!(all.cluster_authorized_operations, 0);

    let hidden = metadata(
        &broker,
        MetadataRequest::default().with_topics(named("hidden")),
    )
    .await;
    assert_eq!(hidden.topics[0].error_code, TOPIC_DENIED);
    assert_eq!(
        hidden.topics[0].topic_authorized_operations,
        AUTHORIZED_OPERATIONS_OMITTED
    );
    assert_eq!(
        hidden.cluster_authorized_operations,
        AUTHORIZED_OPERATIONS_OMITTED
    );
}

#[tokio::test]
async fn auto_creation_needs_create_on_the_cluster_or_the_topic() {
    let broker = broker_with_topics(&[]).await;
    add_acls(
        &broker,
        vec![allow(ResourceType::Topic, "*", PATTERN_LITERAL, Describe)],
    )
    .await;
    let ask = |topic| {
        MetadataRequest::default()
            .with_topics(named(topic))
            .with_allow_auto_topic_creation(true)
    };
    let refused = metadata(&broker, ask("auto-1")).await;
    assert_eq!(refused.topics[0].error_code, TOPIC_DENIED);
    assert!(broker.topics.get("auto-1").is_none());

    add_acls(
        &broker,
        vec![allow(
            ResourceType::Topic,
            "auto-",
            PATTERN_PREFIXED,
            Create,
        )],
    )
    .await;
    let created = metadata(&broker, ask("auto-1")).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert!(broker.topics.get("auto-1").is_some());
    assert_eq!(
        metadata(&broker, ask("other")).await.topics[0].error_code,
        TOPIC_DENIED
    );
}

#[tokio::test]
async fn describe_groups_reports_the_operations_she_has_on_the_group() {
    let broker = broker_with_topics(&[]).await;
    add_acls(
        &broker,
        vec![allow(ResourceType::Group, "g", PATTERN_LITERAL, Read)],
    )
    .await;
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(name("g"))])
        .with_include_authorized_operations(true);
    let response = send(
        &broker,
        "alice",
        ApiKey::DescribeGroups,
        5,
        Request::DescribeGroups(request),
    )
    .await;
    let ResponseKind::DescribeGroups(response) = response else {
        panic!("{response:?}")
    };
    assert_eq!(response.groups[0].error_code, 0);
    // Read implies Describe.
    assert_eq!(
        response.groups[0].authorized_operations,
        bitfield(&[Read, Describe])
    );
}
