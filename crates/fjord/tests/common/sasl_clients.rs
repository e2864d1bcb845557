//! librdkafka clients over SASL for the SASL and SCRAM tests: their
//! configs, a context that keeps the authentication errors librdkafka
//! reports outside any request, and produce and consume helpers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_broker::security::scram_credentials::{ScramCredential, ScramMechanism};
use fjord_storage::scram::{LocalScramStore, ScramStore, ScramUsers};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

pub fn sasl_config(bootstrap: &str, auth: &[(&str, &str)]) -> ClientConfig {
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

/// Errors librdkafka reports outside any request (authentication ones).
#[derive(Default, Clone)]
pub struct Errors(pub Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .expect("errors lock")
            .push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Errors {}

pub fn producer(config: &ClientConfig, errors: &Errors) -> FutureProducer<Errors> {
    let mut config = config.clone();
    config
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000");
    config
        .create_with_context(errors.clone())
        .expect("producer")
}

pub async fn produce(producer: &FutureProducer<Errors>, topic: &str, value: &[u8]) -> i64 {
    producer
        .send(
            FutureRecord::<(), _>::to(topic).partition(0).payload(value),
            Timeout::After(super::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"))
        .offset
}

/// The first `count` values of partition 0, read over SASL.
pub async fn consume(config: &ClientConfig, topic: &str, count: usize) -> Vec<Vec<u8>> {
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
        let message = tokio::time::timeout(super::WAIT, consumer.recv())
            .await
            .expect("records within the wait")
            .expect("a record");
        values.push(message.payload().unwrap_or_default().to_vec());
    }
    values
}

/// Tries to produce one record to `topic` with `config`, which must fail to
/// authenticate; returns the errors librdkafka reported meanwhile.
pub async fn refused_errors(config: &ClientConfig, topic: &str) -> Vec<String> {
    let mut config = config.clone();
    config.set("message.timeout.ms", "3000");
    let errors = Errors::default();
    let refused: FutureProducer<Errors> = config
        .create_with_context(errors.clone())
        .expect("producer");
    let sent = refused
        .send(
            FutureRecord::<(), _>::to(topic).partition(0).payload("x"),
            Timeout::After(Duration::from_secs(10)),
        )
        .await;
    assert!(sent.is_err(), "produced without authenticating: {sent:?}");
    let reported = errors.0.lock().expect("errors lock").clone();
    reported
}

/// Stores `user`'s credential for `mechanism` in the data dir `dir`, as
/// `fjord user add` does before start-up.
pub async fn add_scram_user(
    dir: &std::path::Path,
    user: &str,
    password: &str,
    mechanism: ScramMechanism,
) {
    let credential = ScramCredential::from_password(mechanism, password.as_bytes(), 4096)
        .expect("credential")
        .to_stored();
    let user = user.to_string();
    LocalScramStore::open(dir)
        .expect("SCRAM store")
        .update(Box::new(move |users: &mut ScramUsers| {
            users
                .entry(user)
                .or_default()
                .insert(mechanism.name().to_string(), credential);
        }))
        .await
        .expect("user stored");
}

/// A group consumer, already subscribed to `topic`, reads `values` from
/// partition 0 in order, commits, and the committed offset is the end.
pub async fn read_in_group_and_commit<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    values: &[Vec<u8>],
) {
    let mut read = Vec::new();
    while read.len() < values.len() {
        let message = tokio::time::timeout(super::WAIT, consumer.recv())
            .await
            .expect("group records within the wait")
            .expect("a record");
        read.push(message.payload().unwrap_or_default().to_vec());
    }
    assert_eq!(read, values);
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
    let committed = consumer.committed(super::WAIT).expect("committed offsets");
    let offset = committed.find_partition(topic, 0).map(|p| p.offset());
    assert_eq!(offset, Some(Offset::Offset(values.len() as i64)));
}
