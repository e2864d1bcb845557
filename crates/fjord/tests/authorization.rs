//! The authorizer as a real client meets it. Until SASL lands, a PLAINTEXT
//! client is `User:ANONYMOUS`, so ACLs are given to that principal: with
//! none, its produce is refused with TOPIC_AUTHORIZATION_FAILED and
//! Metadata shows it no topics; once ACLs allow it, it produces and sees
//! the topic; once they are removed, it is refused again. (Tests with
//! several authenticated users follow SASL.)

mod common;

use std::time::Duration;

use common::TestBroker;
use fjord_broker::acl::{AclOperation, ResourceType};
use fjord_broker::authorizer::bindings::{PATTERN_LITERAL, PERMISSION_ALLOW};
use fjord_storage::acls::StoredAcl;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

fn anonymous_may(operation: AclOperation, topic: &str) -> StoredAcl {
    StoredAcl {
        resource_type: ResourceType::Topic.code(),
        resource_name: topic.to_owned(),
        pattern_type: PATTERN_LITERAL,
        principal: "User:ANONYMOUS".to_owned(),
        host: "*".to_owned(),
        operation: operation as i8,
        permission_type: PERMISSION_ALLOW,
    }
}

async fn send(producer: &FutureProducer, topic: &str) -> Result<(), KafkaError> {
    producer
        .send(
            FutureRecord::to(topic).key("k").payload("v"),
            Timeout::After(common::WAIT),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// A producer that gives up on a refused record within seconds.
fn impatient_producer(bootstrap: &str) -> FutureProducer {
    common::producer(
        bootstrap,
        &[("message.timeout.ms", "5000"), ("acks", "all")],
    )
}

async fn assert_refused(producer: &FutureProducer, topic: &str, when: &str) {
    match send(producer, topic).await {
        Err(KafkaError::MessageProduction(code)) => {
            assert_eq!(code, RDKafkaErrorCode::TopicAuthorizationFailed, "{when}")
        }
        other => panic!("{when}: {other:?}"),
    }
}

/// The topics an all-topics Metadata request lists to this client.
async fn listed_topics(producer: &FutureProducer) -> Vec<String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || {
        let metadata = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    })
    .await
    .expect("metadata task")
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_decide_what_an_anonymous_client_may_produce_and_see() {
    if common::skipped_for_external("turns the authorizer on in its own broker") {
        return;
    }
    let broker = TestBroker::start(&[("authorizer.class.name", "fjord")]).await;
    let topic = common::unique_topic("acl");
    broker
        .topics()
        .create(&topic, 1, Default::default(), false)
        .await
        .expect("topic created");
    let producer = impatient_producer(&broker.bootstrap());

    assert!(listed_topics(&producer).await.is_empty());
    assert_refused(&producer, &topic, "produce without ACLs").await;

    let authorizer = &broker.running().broker().authorizer;
    let allowed = vec![anonymous_may(AclOperation::Write, &topic)];
    authorizer
        .update(|acls| acls.extend(allowed))
        .await
        .expect("ACLs stored");
    // Write implies Describe: the topic is listed and the produce served.
    assert_eq!(listed_topics(&producer).await, std::slice::from_ref(&topic));
    send(&producer, &topic).await.expect("produce with an ACL");
    let log_end = broker
        .topics()
        .partition(&topic, 0)
        .expect("partition")
        .log_end_offset();
    assert_eq!(log_end, 1);

    authorizer
        .update(|acls| acls.clear())
        .await
        .expect("ACLs removed");
    let fresh = impatient_producer(&broker.bootstrap());
    assert!(listed_topics(&fresh).await.is_empty());
    assert_refused(&fresh, &topic, "produce after the ACLs went").await;
}
