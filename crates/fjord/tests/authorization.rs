//! The authorizer as a real client meets it over PLAINTEXT, where a client
//! is `User:ANONYMOUS`, so ACLs are given to that principal: with
//! none, its produce is refused with TOPIC_AUTHORIZATION_FAILED and
//! Metadata shows it no topics; once ACLs allow it, it produces and sees
//! the topic; once they are removed, it is refused again. Consuming in a
//! group needs Read on the group too. (Several authenticated users, with
//! ACLs made over CreateAcls: authorization_users.rs.)

mod common;

use std::time::Duration;

use common::TestBroker;
use fjord_broker::acl::{AclOperation, ResourceType};
use fjord_broker::authorizer::bindings::{PATTERN_LITERAL, PERMISSION_ALLOW};
use fjord_storage::acls::StoredAcl;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::Message;

fn anonymous_may(operation: AclOperation, topic: &str) -> StoredAcl {
    anonymous_may_on(ResourceType::Topic, operation, topic)
}

fn anonymous_may_on(resource: ResourceType, operation: AclOperation, name: &str) -> StoredAcl {
    StoredAcl {
        resource_type: resource.code(),
        resource_name: name.to_owned(),
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

/// A broker with the authorizer on and a one-partition topic; None when
/// the tests run against an external broker.
async fn secured_broker_with_topic(prefix: &str) -> Option<(TestBroker, String)> {
    if common::skipped_for_external("turns the authorizer on in its own broker") {
        return None;
    }
    let broker = TestBroker::start(&[("authorizer.class.name", "fjord")]).await;
    let topic = common::unique_topic(prefix);
    broker
        .topics()
        .create(&topic, 1, Default::default(), false)
        .await
        .expect("topic created");
    Some((broker, topic))
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_decide_what_an_anonymous_client_may_produce_and_see() {
    let Some((broker, topic)) = secured_broker_with_topic("acl").await else {
        return;
    };
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

/// Polls until a message or an error arrives (None after `within`).
fn first_event(consumer: &BaseConsumer, within: Duration) -> Option<Result<Vec<u8>, KafkaError>> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => return Some(Ok(message.payload().unwrap_or_default().to_vec())),
            Some(Err(e)) => return Some(Err(e)),
            None => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn consuming_in_a_group_needs_read_on_the_group() {
    let Some((broker, topic)) = secured_broker_with_topic("acl-group").await else {
        return;
    };
    let group = common::unique_topic("acl-members");
    let authorizer = broker.running().broker().authorizer.clone();
    let topic_acls = vec![
        anonymous_may(AclOperation::Write, &topic),
        anonymous_may(AclOperation::Read, &topic),
    ];
    authorizer
        .update(|acls| acls.extend(topic_acls))
        .await
        .expect("ACLs stored");
    send(&impatient_producer(&broker.bootstrap()), &topic)
        .await
        .expect("produce with an ACL");

    let consumer: BaseConsumer =
        common::consumer_config(&broker.bootstrap(), &[("group.id", group.as_str())])
            .create()
            .expect("consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");
    let (consumer, refused) = tokio::task::spawn_blocking(move || {
        let event = first_event(&consumer, Duration::from_secs(20));
        (consumer, event)
    })
    .await
    .expect("poll task");
    match refused {
        Some(Err(e)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::GroupAuthorizationFailed),
            "{e}"
        ),
        other => panic!("consuming without a group ACL: {other:?}"),
    }

    let group_acl = vec![anonymous_may_on(
        ResourceType::Group,
        AclOperation::Read,
        &group,
    )];
    authorizer
        .update(|acls| acls.extend(group_acl))
        .await
        .expect("ACLs stored");
    let consumed = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + common::WAIT;
        // Errors from before the ACL may still be queued: skip them.
        while std::time::Instant::now() < deadline {
            if let Some(Ok(payload)) = first_event(&consumer, Duration::from_secs(1)) {
                return Some(payload);
            }
        }
        None
    })
    .await
    .expect("poll task");
    assert_eq!(consumed.as_deref(), Some(&b"v"[..]));
}
