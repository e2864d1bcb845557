//! The authorizer against several authenticated users: the real binary with
//! a SASL_PLAINTEXT listener, Kafka's StandardAuthorizer named in
//! `authorizer.class.name`, `super.users=User:admin` and PLAIN users admin,
//! alice and bob. The clients are librdkafka's; the ACLs are created and
//! deleted by admin over the wire (CreateAcls, DeleteAcls), since rdkafka's
//! AdminClient has no ACL calls.

mod common;

use std::time::Duration;

use common::acl_admin::{allow, denied, prefixed, AclAdmin};
use common::sasl_clients::{sasl_config, Errors};
use common::BinaryBroker;
use fjord_broker::acl::{AclOperation, ResourceType};
use fjord_broker::authorizer::bindings::WILDCARD_PRINCIPAL;
use fjord_broker::security::plain::{PasswordHash, MIN_ITERATIONS};
use fjord_storage::acls::StoredAcl;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

const SKIP: &str = "starts its own broker with an authorizer, a SASL listener and PLAIN users";

const LISTENERS: &str = "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0";

const USERS: [&str; 3] = ["admin", "alice", "bob"];

fn password(user: &str) -> String {
    format!("{user}-secret")
}

/// The binary with the authorizer on, its SASL listener first (so
/// `bootstrap` is that address), and the three users; None against an
/// external broker.
fn secured_broker(dir: &tempfile::TempDir) -> Option<BinaryBroker> {
    if common::skipped_for_external(SKIP) {
        return None;
    }
    let users: Vec<(String, String)> = USERS
        .iter()
        .map(|user| {
            let hash = PasswordHash::create(password(user).as_bytes(), MIN_ITERATIONS)
                .expect("hash")
                .to_string();
            (format!("sasl.plain.users.{user}"), hash)
        })
        .collect();
    let mut overrides = vec![
        ("listeners", LISTENERS),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    overrides.extend(users.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Some(BinaryBroker::start(dir.path(), &overrides))
}

fn as_user(broker: &BinaryBroker, user: &str) -> ClientConfig {
    let password = password(user);
    sasl_config(
        &broker.bootstrap,
        &[
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", user),
            ("sasl.password", &password),
        ],
    )
}

async fn acl_admin(broker: &BinaryBroker) -> AclAdmin {
    AclAdmin::connect(&broker.bootstrap, "admin", &password("admin")).await
}

/// Creates one-partition topics as admin (a super user: no ACL needed).
async fn create_topics(broker: &BinaryBroker, names: &[&str]) {
    let admin: AdminClient<_> = as_user(broker, "admin").create().expect("admin client");
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&topics, &common::admin_options())
        .await
        .expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
}

/// A producer that gives up on a refused record within seconds.
fn producer(config: &ClientConfig) -> FutureProducer<Errors> {
    let mut config = config.clone();
    config
        .set("enable.idempotence", "false")
        .set("acks", "all")
        .set("message.timeout.ms", "5000");
    config
        .create_with_context(Errors::default())
        .expect("producer")
}

async fn send(
    producer: &FutureProducer<Errors>,
    topic: &str,
    value: &str,
) -> Result<i64, KafkaError> {
    producer
        .send(
            FutureRecord::<(), _>::to(topic).partition(0).payload(value),
            Timeout::After(common::WAIT),
        )
        .await
        .map(|delivered| delivered.offset)
        .map_err(|(e, _)| e)
}

async fn assert_refused(producer: &FutureProducer<Errors>, topic: &str, when: &str) {
    match send(producer, topic, "refused").await {
        Err(KafkaError::MessageProduction(code)) => {
            assert_eq!(code, RDKafkaErrorCode::TopicAuthorizationFailed, "{when}")
        }
        other => panic!("{when}: {other:?}"),
    }
}

/// The topics an all-topics Metadata request lists to this client, sorted.
async fn listed_topics(producer: &FutureProducer<Errors>) -> Vec<String> {
    let producer = producer.clone();
    common::blocking(move || {
        let metadata = producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        let mut topics: Vec<String> = metadata
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        topics.sort();
        topics
    })
    .await
}

/// Reads `count` values of `topic` as a member of `group` (subscribe, so
/// the group is joined and synced), committing what it read.
async fn consume_in_group(
    config: &ClientConfig,
    topic: &str,
    group: &str,
    count: usize,
) -> Vec<Vec<u8>> {
    let mut config = config.clone();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer<Errors> = config
        .create_with_context(Errors::default())
        .expect("group consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut values = Vec::new();
    while values.len() < count {
        let message = tokio::time::timeout(common::WAIT, consumer.recv())
            .await
            .expect("records within the wait")
            .unwrap_or_else(|e| panic!("consuming {topic} in {group}: {e}"));
        values.push(message.payload().unwrap_or_default().to_vec());
    }
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    values
}

fn alice_may(operation: AclOperation, resource: ResourceType, name: &str) -> StoredAcl {
    allow("User:alice", operation, resource, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn alice_is_refused_without_acls_served_with_them_and_refused_once_they_are_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    let topic = common::unique_topic("acl-users");
    let group = common::unique_topic("acl-users-group");
    create_topics(&broker, &[&topic]).await;
    let alice = as_user(&broker, "alice");
    let alice_producer = producer(&alice);
    assert_eq!(listed_topics(&alice_producer).await, Vec::<String>::new());
    assert_refused(&alice_producer, &topic, "alice without ACLs").await;

    let granted = vec![
        alice_may(AclOperation::Write, ResourceType::Topic, &topic),
        alice_may(AclOperation::Describe, ResourceType::Topic, &topic),
        alice_may(AclOperation::Read, ResourceType::Topic, &topic),
        alice_may(AclOperation::Read, ResourceType::Group, &group),
    ];
    let mut admin = acl_admin(&broker).await;
    admin.allow(&granted).await;

    assert_eq!(listed_topics(&alice_producer).await, vec![topic.clone()]);
    let values = ["first", "second", "third"];
    for (offset, value) in values.iter().enumerate() {
        let written = send(&alice_producer, &topic, value).await;
        assert_eq!(
            written.expect("alice produces with her ACLs"),
            offset as i64
        );
    }
    let read = consume_in_group(&alice, &topic, &group, values.len()).await;
    let expected: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
    assert_eq!(read, expected);

    // Bob authenticates as himself and gets none of alice's permissions.
    let bob_producer = producer(&as_user(&broker, "bob"));
    assert_eq!(listed_topics(&bob_producer).await, Vec::<String>::new());
    assert_refused(&bob_producer, &topic, "bob with only alice's ACLs").await;

    let mut expected_deleted = granted.clone();
    expected_deleted.sort();
    assert_eq!(admin.delete_all_of("User:alice").await, expected_deleted);
    assert_eq!(admin.delete_all_of("User:alice").await, Vec::new());
    let fresh = producer(&alice);
    assert_eq!(listed_topics(&fresh).await, Vec::<String>::new());
    assert_refused(&fresh, &topic, "alice after DeleteAcls").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn consuming_in_a_group_needs_read_on_that_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    let topic = common::unique_topic("acl-group");
    let group = common::unique_topic("acl-group-members");
    create_topics(&broker, &[&topic]).await;
    acl_admin(&broker)
        .await
        .allow(&[alice_may(AclOperation::Read, ResourceType::Topic, &topic)])
        .await;

    let mut config = as_user(&broker, "alice");
    config
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer<Errors> = config
        .create_with_context(Errors::default())
        .expect("group consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let refused = tokio::time::timeout(common::WAIT, consumer.recv())
        .await
        .expect("an answer within the wait");
    match refused {
        Err(e) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::GroupAuthorizationFailed),
            "{e}"
        ),
        Ok(message) => panic!("consumed without Read on the group: {message:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefixed_acl_covers_the_topics_under_its_prefix_and_no_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    // unique_topic("orders") is "orders-<pid>-<n>": under the prefix.
    let orders = common::unique_topic("orders");
    let other = common::unique_topic("other");
    create_topics(&broker, &[&orders, &other]).await;
    let under_orders = prefixed(alice_may(
        AclOperation::Write,
        ResourceType::Topic,
        "orders-",
    ));
    acl_admin(&broker).await.allow(&[under_orders]).await;

    let alice = producer(&as_user(&broker, "alice"));
    // Write implies Describe: the covered topic is listed, the other hidden.
    assert_eq!(listed_topics(&alice).await, vec![orders.clone()]);
    assert_eq!(send(&alice, &orders, "covered").await.expect("produce"), 0);
    assert_refused(&alice, &other, "a topic outside the prefix").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deny_for_alice_overrides_an_allow_for_every_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    let topic = common::unique_topic("acl-deny");
    create_topics(&broker, &[&topic]).await;
    let everyone = allow(
        WILDCARD_PRINCIPAL,
        AclOperation::Write,
        ResourceType::Topic,
        &topic,
    );
    let alice_denied = denied(alice_may(AclOperation::Write, ResourceType::Topic, &topic));
    acl_admin(&broker)
        .await
        .allow(&[everyone, alice_denied])
        .await;

    let bob = producer(&as_user(&broker, "bob"));
    assert_eq!(send(&bob, &topic, "bob").await.expect("bob produces"), 0);
    let alice = producer(&as_user(&broker, "alice"));
    assert_refused(&alice, &topic, "alice denied Write").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_super_user_passes_everything_without_acls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    let topic = common::unique_topic("acl-super");
    let group = common::unique_topic("acl-super-group");
    create_topics(&broker, &[&topic]).await;
    let admin = as_user(&broker, "admin");
    let producer = producer(&admin);
    assert!(listed_topics(&producer).await.contains(&topic));
    assert_eq!(send(&producer, &topic, "super").await.expect("produce"), 0);
    assert_eq!(
        consume_in_group(&admin, &topic, &group, 1).await,
        vec![b"super".to_vec()]
    );
    // Auto-creation (Create on the cluster) too.
    let created = common::unique_topic("acl-super-auto");
    assert_eq!(
        send(&producer, &created, "auto")
            .await
            .expect("auto-created"),
        0
    );
}

/// A transactional producer of `config` with `id`: init_transactions'
/// outcome, and the producer. Blocking.
fn init_transactional(config: &ClientConfig, id: &str) -> (Result<(), KafkaError>, BaseProducer) {
    let mut config = config.clone();
    config
        .set("transactional.id", id)
        .set("enable.idempotence", "true")
        .set("transaction.timeout.ms", "60000");
    let producer: BaseProducer = config.create().expect("transactional producer");
    let initialised = producer.init_transactions(Duration::from_secs(10));
    (initialised, producer)
}

fn assert_transactional_id_refused(initialised: Result<(), KafkaError>, who: &str) {
    match initialised {
        Err(e) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed),
            "{who}: {e}"
        ),
        Ok(()) => panic!("{who}: init_transactions succeeded"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transactional_producer_needs_write_on_its_transactional_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(broker) = secured_broker(&dir) else {
        return;
    };
    let topic = common::unique_topic("acl-txn");
    let id = common::unique_topic("alice-txn");
    create_topics(&broker, &[&topic]).await;
    let mut admin = acl_admin(&broker).await;
    admin
        .allow(&[alice_may(AclOperation::Write, ResourceType::Topic, &topic)])
        .await;
    let alice = as_user(&broker, "alice");

    let (config, txn_id) = (alice.clone(), id.clone());
    let (refused, _) = common::blocking(move || init_transactional(&config, &txn_id)).await;
    assert_transactional_id_refused(refused, "alice without a TransactionalId ACL");

    admin
        .allow(&[alice_may(
            AclOperation::Write,
            ResourceType::TransactionalId,
            &id,
        )])
        .await;
    let (config, txn_id, txn_topic) = (alice.clone(), id.clone(), topic.clone());
    common::blocking(move || {
        let (initialised, producer) = init_transactional(&config, &txn_id);
        initialised.expect("init_transactions with the ACL");
        producer.begin_transaction().expect("begin");
        for value in ["txn-0", "txn-1"] {
            producer
                .send(
                    BaseRecord::<(), _>::to(&txn_topic)
                        .partition(0)
                        .payload(value),
                )
                .map_err(|(e, _)| e)
                .expect("queue a record");
        }
        producer.commit_transaction(common::WAIT).expect("commit");
    })
    .await;

    // Bob may not use alice's transactional id.
    let (config, txn_id) = (as_user(&broker, "bob"), id.clone());
    let (refused, _) = common::blocking(move || init_transactional(&config, &txn_id)).await;
    assert_transactional_id_refused(refused, "bob with alice's transactional id");

    // What was committed, read at read_committed (admin may read anything).
    let mut reader = as_user(&broker, "admin");
    reader.set("isolation.level", "read_committed");
    let read = common::sasl_clients::consume(&reader, &topic, 2).await;
    assert_eq!(read, vec![b"txn-0".to_vec(), b"txn-1".to_vec()]);
}
