//! SASL with librdkafka's own SASL code against the real binary on a
//! SASL_PLAINTEXT listener: PLAIN with a hashed password, OAUTHBEARER with
//! unsecured JWTs, and KIP-368 re-authentication.

mod common;

use std::time::Duration;

use common::sasl_clients::{
    consume, produce, producer, read_in_group_and_commit, refused_errors, sasl_config, Errors,
};
use common::BinaryBroker;
use fjord_broker::security::oauthbearer::UNSECURED_VALIDATOR_CLASS;
use fjord_broker::security::plain::{PasswordHash, MIN_ITERATIONS};
use rdkafka::consumer::{Consumer, StreamConsumer};

/// Each test starts the binary with a SASL listener and users of its own.
const SKIP: &str = "starts its own broker with a SASL_PLAINTEXT listener and PLAIN users";

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

fn plain(user: &'static str, password: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

#[tokio::test]
async fn plain_with_the_right_password_produces_and_consumes() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir, &[("group.initial.rebalance.delay.ms", "0")]);
    let config = sasl_config(&broker.bootstrap, &plain("alice", "alice-secret"));
    let topic = common::unique_topic("sasl-plain");
    let producer = producer(&config, &Errors::default());
    let values: Vec<Vec<u8>> = (0..5).map(|i| format!("plain-{i}").into_bytes()).collect();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(produce(&producer, &topic, value).await, i as i64);
    }
    assert_eq!(consume(&config, &topic, values.len()).await, values);

    // A consumer group over SASL: join, read everything, commit.
    let mut group = config.clone();
    group
        .set("group.id", format!("{topic}-group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer<Errors> = group
        .create_with_context(Errors::default())
        .expect("group consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    read_in_group_and_commit(&consumer, &topic, &values).await;
}

#[tokio::test]
async fn a_wrong_password_gets_an_authentication_error_and_no_data() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir, &[]);
    let topic = common::unique_topic("sasl-wrong");
    let config = sasl_config(&broker.bootstrap, &plain("alice", "not-her-password"));
    let errors = refused_errors(&config, &topic).await;
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

/// Kafka's `listener.name.<listener>.plain.sasl.jaas.config` gives a
/// listener PLAIN users of its own; Fjord's
/// `listener.name.<listener>.[plain.]sasl.plain.users.<name>` does the same:
/// that listener serves its own users only, the others the broker-wide ones.
#[tokio::test]
async fn a_listener_with_plain_users_of_its_own_serves_only_those() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (outer, inner) = (common::free_port(), common::free_port());
    let listeners = format!("SASL_PLAINTEXT://127.0.0.1:{outer},INTERNAL://127.0.0.1:{inner}");
    let hash = |password: &[u8]| {
        PasswordHash::create(password, MIN_ITERATIONS)
            .expect("hash")
            .to_string()
    };
    let (carol, dave) = (hash(b"carol-secret"), hash(b"dave-secret"));
    let _broker = broker(
        &dir,
        &[
            ("listeners", &listeners),
            (
                "listener.security.protocol.map",
                "SASL_PLAINTEXT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
            ),
            ("listener.name.internal.sasl.plain.users.carol", &carol),
            // Kafka's per-mechanism form, the listener named in any case.
            ("listener.name.INTERNAL.plain.sasl.plain.users.dave", &dave),
        ],
    );
    let (outer, inner) = (format!("127.0.0.1:{outer}"), format!("127.0.0.1:{inner}"));
    let topic = common::unique_topic("sasl-per-listener");
    let refused = |bootstrap: &str, user: &'static str, password: &'static str| {
        let config = sasl_config(bootstrap, &plain(user, password));
        let topic = topic.clone();
        async move { refused_errors(&config, &topic).await }
    };
    let invalid = "Authentication failed: Invalid username or password";
    for (bootstrap, user, password) in [
        (&inner, "alice", "alice-secret"),
        (&outer, "carol", "carol-secret"),
        (&outer, "dave", "dave-secret"),
    ] {
        let errors = refused(bootstrap, user, password).await;
        assert!(
            errors.iter().any(|e| e.contains(invalid)),
            "{user} on {bootstrap}: {errors:?}"
        );
    }
    // Each user where it belongs; nothing the refused ones sent was kept.
    for (next, (bootstrap, user, password)) in [
        (&outer, "alice", "alice-secret"),
        (&inner, "carol", "carol-secret"),
        (&inner, "dave", "dave-secret"),
    ]
    .into_iter()
    .enumerate()
    {
        let config = sasl_config(bootstrap, &plain(user, password));
        let offset = produce(
            &producer(&config, &Errors::default()),
            &topic,
            user.as_bytes(),
        )
        .await;
        assert_eq!(offset, next as i64, "{user} on {bootstrap}");
    }
}

#[tokio::test]
async fn oauthbearer_with_an_unsecured_jwt_produces_and_consumes() {
    if common::skipped_for_external(SKIP) {
        return;
    }
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
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // 3 s: librdkafka re-authenticates shortly before the lifetime ends;
    // a longer lifetime leaves that margin room on a loaded machine.
    let broker = broker(&dir, &[("connections.max.reauth.ms", "3000")]);
    let config = sasl_config(&broker.bootstrap, &plain("alice", "alice-secret"));
    let topic = common::unique_topic("sasl-reauth");
    let errors = Errors::default();
    let producer = producer(&config, &errors);
    let mut produced = Vec::new();
    for i in 0..20 {
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

#[test]
fn fjord_user_hash_reads_the_password_from_stdin_and_prints_a_hash_the_broker_takes() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let hash_of = |input: &[u8], args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .args(["user", "hash"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fjord user hash");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("password written");
        child.wait_with_output().expect("fjord user hash ends")
    };
    let output = hash_of(b"s3cret pass\n", &["--iterations", "20000"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(text.starts_with("pbkdf2-sha256$20000$"), "{text}");
    let hash = PasswordHash::parse(text.trim()).expect("a hash the broker takes");
    assert!(hash.verify(b"s3cret pass"));
    assert!(!hash.verify(b"s3cret pass\n"));

    assert!(!hash_of(b"", &[]).status.success());
    assert!(!hash_of(b"pw\n", &["--iterations", "10"]).status.success());
}

#[test]
fn a_malformed_password_hash_stops_start_up_naming_the_config() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let refused = common::binary_refuses_to_start(
        dir.path(),
        &[
            ("listeners", LISTENERS),
            ("sasl.plain.users.alice", "plaintext-password"),
        ],
    );
    assert!(refused.contains("sasl.plain.users.alice"), "{refused}");
    assert!(!refused.contains("plaintext-password"), "{refused}");
    let refused = common::binary_refuses_to_start(
        dir.path(),
        &[
            ("listeners", LISTENERS),
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
        ],
    );
    assert!(refused.contains("OAUTHBEARER needs"), "{refused}");
    let refused = common::binary_refuses_to_start(
        dir.path(),
        &[
            ("listeners", LISTENERS),
            (
                "listener.name.sasl_plaintext.sasl.plain.users.eve",
                "eves-password",
            ),
        ],
    );
    assert!(
        refused.contains("listener.name.sasl_plaintext.sasl.plain.users.eve"),
        "{refused}"
    );
    assert!(!refused.contains("eves-password"), "{refused}");
}
