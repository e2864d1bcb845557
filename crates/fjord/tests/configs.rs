//! Kafka's config names: every broker and topic config Kafka 4.1 defines is
//! taken (honoured, or accepted with no effect), and only unknown names,
//! values Kafka would refuse and values asking for what Fjord lacks are
//! refused, at start-up and in CreateTopics.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::BinaryBroker;
use rdkafka::admin::{ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;

/// What every Kafka quick-start sets for a single node; Fjord refused them once.
const QUICK_START_BROKER_CONFIGS: &[(&str, &str)] = &[
    ("offsets.topic.replication.factor", "1"),
    ("transaction.state.log.replication.factor", "1"),
    ("transaction.state.log.min.isr", "1"),
];

/// Valid Kafka 4.1 topic configs that CreateTopics refused as unknown once.
const SEEN_REFUSED_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("delete.retention.ms", "3600000"),
    ("min.compaction.lag.ms", "1000"),
    ("message.timestamp.before.max.ms", "86400000"),
    ("message.timestamp.after.max.ms", "3600000"),
    ("unclean.leader.election.enable", "false"),
];

#[tokio::test(flavor = "multi_thread")]
async fn quick_start_configs_start_the_binary_and_kafka_topic_configs_create() {
    if common::skipped_for_external("starts its broker with the settings under test") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = BinaryBroker::start(dir.path(), QUICK_START_BROKER_CONFIGS);

    let topic = common::unique_topic("kafka-configs");
    common::create_topic(&broker.bootstrap, &topic, 1, SEEN_REFUSED_TOPIC_CONFIGS).await;

    let admin = common::admin(&broker.bootstrap);
    let options = common::admin_options();
    // Taken and kept: DescribeConfigs shows them as the topic's own.
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &options)
        .await
        .expect("DescribeConfigs");
    let resource = described[0].as_ref().expect("topic described");
    for (name, value) in SEEN_REFUSED_TOPIC_CONFIGS {
        let entry = resource
            .get(name)
            .unwrap_or_else(|| panic!("{name} described"));
        assert_eq!(entry.value.as_deref(), Some(*value), "{name}");
        assert_eq!(entry.source, ConfigSource::DynamicTopic, "{name}");
    }
    for (name, value, expected) in [
        ("no.such.config", "1", RDKafkaErrorCode::InvalidConfig),
        (
            "delete.retention.ms",
            "soon",
            RDKafkaErrorCode::InvalidConfig,
        ),
        (
            "min.compaction.lag.ms",
            "-1",
            RDKafkaErrorCode::InvalidConfig,
        ),
        ("cleanup.policy", "compact", RDKafkaErrorCode::InvalidConfig),
    ] {
        let refused = common::unique_topic("refused-config");
        let new = NewTopic::new(&refused, 1, TopicReplication::Fixed(1)).set(name, value);
        let result = admin
            .create_topics([&new], &options)
            .await
            .expect("CreateTopics");
        assert_eq!(
            result,
            vec![Err((refused.clone(), expected))],
            "{name}={value}"
        );
    }
    broker.terminate();
}

/// Runs `fjord serve` with these overrides and returns its stderr, failing
/// the test unless it exits with an error within 30 s.
fn refused_start(overrides: &[(&str, &str)], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in overrides {
        command.arg("--override").arg(format!("{name}={value}"));
    }
    for (var, value) in env {
        command.env(var, value);
    }
    let mut child = command.spawn().expect("spawn fjord");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait fjord") {
            let output = child.wait_with_output().expect("fjord output");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(
                !status.success(),
                "fjord started with {overrides:?} {env:?}"
            );
            return stderr;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fjord kept running with {overrides:?} {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn start_up_refuses_unknown_names_and_invalid_values_from_flags_and_env() {
    if common::skipped_for_external("starts its broker with the settings under test") {
        return;
    }
    let unknown = refused_start(&[("zookeeper.connect", "localhost:2181")], &[]);
    assert!(
        unknown.contains("zookeeper.connect") && unknown.contains("no such config"),
        "{unknown}"
    );
    let invalid = refused_start(&[("offsets.topic.replication.factor", "0")], &[]);
    assert!(
        invalid.contains("Invalid value 0 for configuration offsets.topic.replication.factor"),
        "{invalid}"
    );
    let from_env = refused_start(&[], &[("FJORD_TRANSACTION_STATE_LOG_MIN_ISR", "many")]);
    assert!(
        from_env.contains("FJORD_TRANSACTION_STATE_LOG_MIN_ISR")
            && from_env
                .contains("Invalid value many for configuration transaction.state.log.min.isr"),
        "{from_env}"
    );
}

/// Issue 8: every source is checked against the config registry, and a
/// refusal names the config (and where it was given) with a failing exit.
#[test]
fn start_up_refuses_bad_values_from_every_source_naming_the_config() {
    if common::skipped_for_external("starts its broker with the settings under test") {
        return;
    }
    let from_env = refused_start(&[], &[("FJORD_NUM_PARTITIONS", "abc")]);
    assert!(
        from_env.contains(
            "FJORD_NUM_PARTITIONS: Invalid value abc for configuration num.partitions: \
             Not a number of type INT"
        ),
        "{from_env}"
    );
    let retention = refused_start(&[("log.retention.ms", "-7")], &[]);
    assert!(
        retention.contains(
            "--override log.retention.ms: Invalid value -7 for configuration log.retention.ms: \
             Value must be at least -1 (it sets retention.ms for topics)"
        ),
        "{retention}"
    );
    let unknown = refused_start(&[("num.partition", "4")], &[]);
    assert!(
        unknown.contains("Unknown broker config num.partition"),
        "{unknown}"
    );
    let listeners = refused_start(&[("listeners", "SSL://127.0.0.1:0")], &[]);
    assert!(
        listeners.contains(
            "listener SSL serves TLS and needs a key and certificate: set ssl.keystore.location"
        ),
        "{listeners}"
    );
    let keystore = refused_start(
        &[
            ("listeners", "SSL://127.0.0.1:0"),
            (
                "listener.name.ssl.ssl.keystore.location",
                "/nonexistent/broker.pem",
            ),
        ],
        &[],
    );
    assert!(
        keystore.contains(
            "configuration listener.name.ssl.ssl.keystore.location: cannot read \
             /nonexistent/broker.pem"
        ),
        "{keystore}"
    );
    let dirs = refused_start(&[("log.dirs", "/tmp/a,/tmp/b")], &[]);
    assert!(
        dirs.contains("Invalid value /tmp/a,/tmp/b for configuration log.dirs"),
        "{dirs}"
    );
    let ids = refused_start(&[("node.id", "1"), ("broker.id", "2")], &[]);
    assert!(
        ids.contains("Invalid value 2 for configuration broker.id"),
        "{ids}"
    );
}

/// The broker config's value as DescribeConfigs reports it, and whether it
/// is reported as set at start-up (STATIC_BROKER_CONFIG).
async fn described_broker_config(bootstrap: &str, name: &str) -> (Option<String>, bool) {
    let admin = common::admin(bootstrap);
    let described = admin
        .describe_configs([&ResourceSpecifier::Broker(1)], &common::admin_options())
        .await
        .expect("DescribeConfigs");
    let resource = described[0].as_ref().expect("broker described");
    let entry = resource
        .get(name)
        .unwrap_or_else(|| panic!("{name} described"));
    (
        entry.value.clone(),
        matches!(entry.source, ConfigSource::StaticBroker),
    )
}

/// `log.dirs` from the environment is where the broker writes, and what
/// DescribeConfigs reports; so is `listeners` from an override.
#[tokio::test(flavor = "multi_thread")]
async fn log_dirs_and_listeners_take_effect_and_are_described() {
    if common::skipped_for_external("starts its broker with the settings under test") {
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("from-env");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("probe address").port()
    };
    let listeners = format!("PLAINTEXT://127.0.0.1:{port}");
    let mut command = common::bare_serve_command();
    command
        .current_dir(parent.path())
        .env("FJORD_LOG_DIRS", &dir)
        .arg("--override")
        .arg(format!("listeners={listeners}"));
    let broker = BinaryBroker::start_command(command, &dir);
    assert_eq!(broker.bootstrap, format!("127.0.0.1:{port}"));

    let topic = common::unique_topic("in-log-dirs");
    common::create_topic(&broker.bootstrap, &topic, 1, &[]).await;
    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    producer
        .send(
            rdkafka::producer::FutureRecord::<(), _>::to(&topic).payload("kept"),
            Duration::from_secs(30),
        )
        .await
        .expect("acknowledged");
    assert!(dir.join("fjord-metadata.json").exists());
    assert!(
        !common::segment_files(&dir, &topic, 0).is_empty(),
        "the partition's segments are in log.dirs"
    );
    assert!(
        !parent.path().join("fjord-data").exists(),
        "not in the default dir"
    );

    assert_eq!(
        described_broker_config(&broker.bootstrap, "log.dirs").await,
        (Some(dir.display().to_string()), true)
    );
    assert_eq!(
        described_broker_config(&broker.bootstrap, "listeners").await,
        (Some(listeners), true)
    );
    broker.terminate();
}
