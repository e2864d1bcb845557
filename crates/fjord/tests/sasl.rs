//! SASL with librdkafka's own SASL code against the real binary on a
//! SASL_PLAINTEXT listener: PLAIN with a hashed password, OAUTHBEARER with
//! unsecured JWTs, and KIP-368 re-authentication.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::BinaryBroker;
use fjord_broker::security::oauthbearer::UNSECURED_VALIDATOR_CLASS;
use fjord_broker::security::plain::{PasswordHash, MIN_ITERATIONS};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

const LISTENERS: &str = "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0";

/// The binary with the SASL listener first (so `bootstrap` is its address)
/// and user alice.
fn broker(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> BinaryBroker {
    let hash = PasswordHash::create(b"alice-secret", MIN_ITERATIONS)
        .expect("hash")
        .to_string();
    let mut overrides = vec![
        ("listeners", LISTENERS),
        ("sasl.plain.users.alice", hash.as_str()),
    ];
    overrides.extend_from_slice(extra);
    BinaryBroker::start(dir.path(), &overrides)
}

fn sasl_config(bootstrap: &str, auth: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("broker.address.family", "v4");
    for (name, value) in auth {
        config.set(*name, *value);
    }
    config
}

fn plain(user: &'static str, password: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

/// Errors librdkafka reports outside any request (authentication ones).
#[derive(Default, Clone)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .expect("errors lock")
            .push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Errors {}

fn producer(config: &ClientConfig, errors: &Errors) -> FutureProducer<Errors> {
    let mut config = config.clone();
    config
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000");
    config
        .create_with_context(errors.clone())
        .expect("producer")
}

async fn produce(producer: &FutureProducer<Errors>, topic: &str, value: &[u8]) -> i64 {
    producer
        .send(
            FutureRecord::<(), _>::to(topic).partition(0).payload(value),
            Timeout::After(common::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"))
        .offset
}

/// The first `count` values of partition 0, read over SASL.
async fn consume(config: &ClientConfig, topic: &str, count: usize) -> Vec<Vec<u8>> {
    let mut config = config.clone();
    config
        .set("group.id", "sasl-tests-unused")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer<Errors> = config
        .create_with_context(Errors::default())
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    while values.len() < count {
        let message = tokio::time::timeout(common::WAIT, consumer.recv())
            .await
            .expect("records within the wait")
            .expect("a record");
        values.push(message.payload().unwrap_or_default().to_vec());
    }
    values
}

#[tokio::test]
async fn plain_with_the_right_password_produces_and_consumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir, &[]);
    let config = sasl_config(&broker.bootstrap, &plain("alice", "alice-secret"));
    let topic = common::unique_topic("sasl-plain");
    let producer = producer(&config, &Errors::default());
    let values: Vec<Vec<u8>> = (0..5).map(|i| format!("plain-{i}").into_bytes()).collect();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(produce(&producer, &topic, value).await, i as i64);
    }
    assert_eq!(consume(&config, &topic, values.len()).await, values);
}

#[tokio::test]
async fn a_wrong_password_gets_an_authentication_error_and_no_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir, &[]);
    let topic = common::unique_topic("sasl-wrong");
    let mut config = sasl_config(&broker.bootstrap, &plain("alice", "not-her-password"));
    config.set("message.timeout.ms", "3000");
    let errors = Errors::default();
    let refused: FutureProducer<Errors> = config
        .create_with_context(errors.clone())
        .expect("producer");
    let sent = refused
        .send(
            FutureRecord::<(), _>::to(&topic).partition(0).payload("x"),
            Timeout::After(Duration::from_secs(10)),
        )
        .await;
    assert!(sent.is_err(), "produced without authenticating: {sent:?}");
    let errors = errors.0.lock().expect("errors lock").clone();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Authentication failed: Invalid username or password")),
        "{errors:?}"
    );
    // Nothing reached the log: the right user reads no record.
    let right = sasl_config(&broker.bootstrap, &plain("alice", "alice-secret"));
    let offset = produce(&producer(&right, &Errors::default()), &topic, b"first").await;
    assert_eq!(offset, 0);
}

#[tokio::test]
async fn oauthbearer_with_an_unsecured_jwt_produces_and_consumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(
        &dir,
        &[
            ("sasl.enabled.mechanisms", "PLAIN,OAUTHBEARER"),
            (
                "sasl.server.callback.handler.class",
                UNSECURED_VALIDATOR_CLASS,
            ),
        ],
    );
    let config = sasl_config(
        &broker.bootstrap,
        &[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "principal=alice"),
        ],
    );
    let topic = common::unique_topic("sasl-oauth");
    let producer = producer(&config, &Errors::default());
    assert_eq!(produce(&producer, &topic, b"bearer").await, 0);
    assert_eq!(consume(&config, &topic, 1).await, [b"bearer".to_vec()]);
}

#[tokio::test]
async fn a_producer_reauthenticates_and_keeps_working_past_several_lifetimes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir, &[("connections.max.reauth.ms", "2000")]);
    let config = sasl_config(&broker.bootstrap, &plain("alice", "alice-secret"));
    let topic = common::unique_topic("sasl-reauth");
    let errors = Errors::default();
    let producer = producer(&config, &errors);
    let mut produced = Vec::new();
    for i in 0..16 {
        let value = format!("reauth-{i}").into_bytes();
        assert_eq!(produce(&producer, &topic, &value).await, i);
        produced.push(value);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(consume(&config, &topic, produced.len()).await, produced);
    // No connection was closed for an expired session: librdkafka
    // re-authenticated each time before its session ran out.
    assert_eq!(broker.logged("session expired"), Vec::<String>::new());
    let errors = errors.0.lock().expect("errors lock").clone();
    assert!(errors.is_empty(), "{errors:?}");
}
