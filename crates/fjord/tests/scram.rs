//! SCRAM-SHA-256 and SCRAM-SHA-512 with librdkafka's own SCRAM client
//! against the real binary on a SASL_PLAINTEXT listener: users stored in
//! the data dir before start-up (as `fjord user add` stores them) produce
//! and consume; a wrong password and an unknown user are refused alike,
//! and nothing they send is stored.

mod common;

use common::sasl_clients::{
    add_scram_user as add_user, consume, produce, producer, refused_errors, sasl_config, Errors,
};
use common::BinaryBroker;
use fjord_broker::security::scram_credentials::ScramMechanism;

/// Each test starts the binary with a SASL listener and users of its own.
const SKIP: &str = "starts its own broker with a SASL_PLAINTEXT listener and SCRAM users";

const LISTENERS: &str = "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0";

/// The binary with both SCRAM mechanisms on its SASL listener (its
/// `bootstrap`), and alice (SHA-256) and bob (SHA-512).
async fn broker(dir: &tempfile::TempDir) -> BinaryBroker {
    add_user(dir.path(), "alice", "alice-secret", ScramMechanism::Sha256).await;
    add_user(dir.path(), "bob", "bob-secret", ScramMechanism::Sha512).await;
    BinaryBroker::start(
        dir.path(),
        &[
            ("listeners", LISTENERS),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512"),
        ],
    )
}

fn scram<'a>(mechanism: &'a str, user: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

#[tokio::test]
async fn both_mechanisms_produce_and_consume_with_the_right_password() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir).await;
    for (mechanism, user, password) in [
        ("SCRAM-SHA-256", "alice", "alice-secret"),
        ("SCRAM-SHA-512", "bob", "bob-secret"),
    ] {
        let config = sasl_config(&broker.bootstrap, &scram(mechanism, user, password));
        let topic = common::unique_topic("scram");
        let errors = Errors::default();
        let producer = producer(&config, &errors);
        let values: Vec<Vec<u8>> = (0..3)
            .map(|i| format!("{mechanism}-{i}").into_bytes())
            .collect();
        for (i, value) in values.iter().enumerate() {
            assert_eq!(produce(&producer, &topic, value).await, i as i64);
        }
        assert_eq!(consume(&config, &topic, values.len()).await, values);
        let errors = errors.0.lock().expect("errors lock").clone();
        assert!(errors.is_empty(), "{mechanism}: {errors:?}");
    }
}

#[tokio::test]
async fn a_wrong_password_an_unknown_user_and_the_other_mechanism_are_refused_alike() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&dir).await;
    let topic = common::unique_topic("scram-refused");
    for (mechanism, user, password) in [
        ("SCRAM-SHA-256", "alice", "not-her-password"),
        ("SCRAM-SHA-256", "mallory", "alice-secret"),
        // bob has a SHA-512 credential only.
        ("SCRAM-SHA-256", "bob", "bob-secret"),
    ] {
        let config = sasl_config(&broker.bootstrap, &scram(mechanism, user, password));
        let errors = refused_errors(&config, &topic).await;
        assert!(
            errors.iter().any(|e| e.contains(
                "Authentication failed during authentication due to invalid credentials with \
                 SASL mechanism SCRAM-SHA-256"
            )),
            "{user}: {errors:?}"
        );
    }
    // Nothing reached the log: the first record a right user writes is at 0.
    let right = sasl_config(
        &broker.bootstrap,
        &scram("SCRAM-SHA-256", "alice", "alice-secret"),
    );
    let offset = produce(&producer(&right, &Errors::default()), &topic, b"first").await;
    assert_eq!(offset, 0);
}
