//! Test helpers for handler unit tests: a real broker on a temp dir.

use std::ops::Deref;

use bytes::{Bytes, BytesMut};
use fjord_testkit::batches;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;
use tempfile::TempDir;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::request_context::RequestContext;
use crate::server::{self, RunningBroker};

/// A started broker that lives as long as its temp dir.
pub(crate) struct TestBroker {
    running: RunningBroker,
    _dir: TempDir,
}

impl Deref for TestBroker {
    type Target = Broker;

    fn deref(&self) -> &Broker {
        self.running.broker()
    }
}

impl TestBroker {
    /// The broker as a connection holds it.
    pub(crate) fn shared(&self) -> std::sync::Arc<Broker> {
        self.running.broker().clone()
    }
}

pub(crate) async fn test_broker() -> TestBroker {
    test_broker_with(|config| config).await
}

/// A broker whose config `tweak` may change (static Kafka configs and so on).
pub(crate) async fn test_broker_with(
    tweak: impl FnOnce(BrokerConfig) -> BrokerConfig,
) -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = tweak(BrokerConfig::for_tests(dir.path()));
    let running = server::start(config).await.expect("broker starts");
    TestBroker { running, _dir: dir }
}

/// Appends `count` small records to a partition.
pub(crate) async fn append_records(broker: &Broker, topic: &str, partition: i32, count: usize) {
    let values = (0..count)
        .map(|i| Bytes::from(format!("value-{i}")))
        .collect();
    append_batch(broker, topic, partition, values).await;
}

/// Appends one batch with these record values; returns its size as stored.
pub(crate) async fn append_batch(
    broker: &Broker,
    topic: &str,
    partition: i32,
    values: Vec<Bytes>,
) -> usize {
    // Now, not a fixed date: the broker's first housekeeping pass applies
    // the 7-day retention.ms, and deleted records stamped in the past.
    let batch = batches::batch_of_values(values, batches::now_ms());
    let size = batch.len();
    let log = broker
        .topics
        .partition(topic, partition)
        .expect("partition exists");
    log.append(batch, fjord_storage::Durability::Written)
        .await
        .expect("append");
    size
}

/// Panics unless `message` encodes at `version` (catches fields set that the
/// version cannot carry).
pub(crate) fn assert_encodes<M: Encodable>(message: &M, version: i16) {
    let mut buf = BytesMut::new();
    if let Err(e) = message.encode(&mut buf, version) {
        panic!("response does not encode at v{version}: {e}");
    }
}

/// The context of a request from a test client (see [`RequestContext::for_tests`]).
pub(crate) fn ctx(api_key: ApiKey, version: i16) -> RequestContext {
    RequestContext::for_tests(api_key, version)
}

/// A started broker with one topic of `partitions` partitions.
pub(crate) async fn broker_with_topic(topic: &str, partitions: i32) -> TestBroker {
    let broker = test_broker().await;
    broker
        .topics
        .create(topic, partitions, std::collections::BTreeMap::new(), false)
        .await
        .expect("topic created");
    broker
}
