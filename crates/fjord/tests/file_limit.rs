//! The real binary under an open-file limit far below three files per
//! partition: topic creation, produce, fetch and a restart all work, and the
//! broker's descriptors stay under the limit.
//!
//! Its own test binary with one test: it lowers this process's limit (with
//! `prlimit`, the hard limit too, since fjord raises its soft limit to the
//! hard one) so that the broker it starts inherits it.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::BinaryBroker;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset};

/// Limit for this process and the broker; 300 partitions would need 900
/// files if each kept its .log, .index and .timeindex open.
const FILE_LIMIT: usize = 200;
const PARTITIONS: i32 = 300;

fn lower_own_file_limit() {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={FILE_LIMIT}:{FILE_LIMIT}"))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed: {status}");
}

/// CreateTopics with patience: the broker creates the partitions one after
/// another with three fsyncs each (4.4 s for 300 here at load average 20),
/// which with slower fsyncs outlasts the shared helper's 10 s socket
/// timeout: the request failed that way once in a full test run.
async fn create_topic_slowly(bootstrap: &str, topic: &str) {
    const PATIENCE: Duration = Duration::from_secs(120);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", PATIENCE.as_millis().to_string())
        .create()
        .expect("create admin client");
    let new_topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().request_timeout(Some(PATIENCE)),
        )
        .await
        .expect("CreateTopics request");
    assert_eq!(results, vec![Ok(topic.to_string())], "creating {topic}");
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list broker fds")
        .count()
}

async fn produce_one_each(bootstrap: &str, topic: &str, round: u32) {
    let producer = common::producer(bootstrap, &[("acks", "all"), ("linger.ms", "20")]);
    let values: Vec<String> = (0..PARTITIONS).map(|p| format!("{round}:{p}")).collect();
    let deliveries = values.iter().enumerate().map(|(p, value)| {
        producer.send(
            FutureRecord::<(), _>::to(topic)
                .partition(p as i32)
                .payload(value),
            Timeout::After(common::WAIT),
        )
    });
    for (p, delivery) in join_all(deliveries).await.into_iter().enumerate() {
        let d = delivery.unwrap_or_else(|(e, _)| panic!("partition {p}: {e}"));
        assert_eq!(d.offset, i64::from(round));
    }
}

/// Every partition's values, in offset order.
async fn read_back(
    bootstrap: &str,
    topic: &str,
    per_partition: usize,
) -> BTreeMap<i32, Vec<String>> {
    let all: Vec<i32> = (0..PARTITIONS).collect();
    let records = common::consume_n(
        bootstrap,
        topic,
        &all,
        Offset::Beginning,
        all.len() * per_partition,
        common::WAIT,
    )
    .await;
    let mut by_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for r in records {
        let value = String::from_utf8(r.value.expect("value")).expect("utf-8");
        by_partition
            .entry(r.partition)
            .or_default()
            .push((r.offset, value));
    }
    by_partition
        .into_iter()
        .map(|(p, mut values)| {
            values.sort();
            (p, values.into_iter().map(|(_, v)| v).collect())
        })
        .collect()
}

fn expected(rounds: u32) -> BTreeMap<i32, Vec<String>> {
    (0..PARTITIONS)
        .map(|p| (p, (0..rounds).map(|r| format!("{r}:{p}")).collect()))
        .collect()
}

/// Writes round `round` to every partition, reads every round back, and
/// checks the broker's descriptors.
async fn write_read_and_count(broker: &BinaryBroker, topic: &str, round: u32) {
    produce_one_each(&broker.bootstrap, topic, round).await;
    let per_partition = round as usize + 1;
    assert_eq!(
        read_back(&broker.bootstrap, topic, per_partition).await,
        expected(round + 1)
    );
    let fds = open_files(broker.pid());
    assert!(
        fds < FILE_LIMIT,
        "round {round}: {fds} descriptors open, limit {FILE_LIMIT}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn many_partitions_under_a_low_open_file_limit() {
    if common::skipped_for_external("starts its broker with a limit on open files") {
        return;
    }
    lower_own_file_limit();
    let dir = tempfile::tempdir().expect("temp dir");
    let topic = common::unique_topic("file-limit");

    let broker = BinaryBroker::start(dir.path(), &[]);
    create_topic_slowly(&broker.bootstrap, &topic).await;
    write_read_and_count(&broker, &topic, 0).await;
    broker.terminate();

    // Restart: partitions load on first use, appends reopen through the cache.
    let broker = BinaryBroker::start(dir.path(), &[]);
    write_read_and_count(&broker, &topic, 1).await;
    broker.terminate();
}
