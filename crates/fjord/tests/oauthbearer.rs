//! OAUTHBEARER with signed JWTs through librdkafka: the broker checks them
//! against a JWKS file (`sasl.oauthbearer.jwks.endpoint.url`), an expected
//! issuer and audience. librdkafka gets its token from the client's
//! token-refresh callback, as an application hands it one from its identity
//! provider. A valid token produces and consumes in a group; an expired one
//! and one signed by a key the JWKS does not hold each get the
//! authentication error and write nothing.

mod common;

use std::error::Error;

use common::sasl_clients::{read_in_group_and_commit, Errors};
use common::BinaryBroker;
use fjord_testkit::jwt::{self as mint, TestKey};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::{json, Value};

const SKIP: &str = "starts its own broker with a JWKS file for OAUTHBEARER";
const ISSUER: &str = "https://issuer.fjord.test";
const AUDIENCE: &str = "fjord-broker";

/// A client context handing librdkafka one fixed token (whatever its
/// claims say, librdkafka is told it lives an hour: the broker judges it)
/// and keeping the errors librdkafka reports.
#[derive(Clone)]
struct Bearer {
    token: String,
    errors: Errors,
}

impl ClientContext for Bearer {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        Ok(OAuthToken {
            token: self.token.clone(),
            principal_name: "alice".into(),
            lifetime_ms: common::now_ms() + 3_600_000,
        })
    }

    fn error(&self, error: KafkaError, reason: &str) {
        ClientContext::error(&self.errors, error, reason);
    }
}

impl ConsumerContext for Bearer {}

/// The binary with an OAUTHBEARER-only SASL listener trusting `keys`.
fn broker(dir: &tempfile::TempDir, keys: &[&TestKey]) -> BinaryBroker {
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, mint::jwks(keys)).expect("JWKS written");
    let url = format!("file://{}", jwks.display());
    BinaryBroker::start(
        &dir.path().join("data"),
        &[
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
            ("sasl.enabled.mechanisms", "OAUTHBEARER"),
            ("sasl.oauthbearer.jwks.endpoint.url", &url),
            ("sasl.oauthbearer.expected.issuer", ISSUER),
            ("sasl.oauthbearer.expected.audience", AUDIENCE),
            ("group.initial.rebalance.delay.ms", "0"),
        ],
    )
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "OAUTHBEARER")
        .set("broker.address.family", "v4");
    config
}

fn bearer(token: String) -> Bearer {
    Bearer {
        token,
        errors: Errors::default(),
    }
}

/// Tries to produce one record with `token`, which must be refused: the
/// errors librdkafka reported.
async fn refused(bootstrap: &str, token: String, topic: &str) -> Vec<String> {
    let context = bearer(token);
    let producer: FutureProducer<Bearer> = config(bootstrap)
        .set("message.timeout.ms", "3000")
        .create_with_context(context.clone())
        .expect("producer");
    let sent = producer
        .send(
            FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload("intruder"),
            Timeout::After(std::time::Duration::from_secs(10)),
        )
        .await;
    assert!(sent.is_err(), "produced with a bad token: {sent:?}");
    let reported = context.errors.0.lock().expect("errors lock").clone();
    reported
}

fn claims() -> Value {
    mint::claims("alice", ISSUER, AUDIENCE)
}

#[tokio::test]
async fn a_valid_jwt_works_an_expired_or_wrongly_signed_one_gets_no_data() {
    if common::skipped_for_external(SKIP) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let trusted = TestKey::ec("fjord-test-key");
    // Same key id and algorithm, another private key: a forged signature.
    let forger = TestKey::ec("fjord-test-key");
    let broker = broker(&dir, &[&trusted]);
    let topic = common::unique_topic("oauth-jwks");

    let now = mint::now_s();
    let mut expired = claims();
    // An hour past, far beyond the 30 s clock skew allowed by default.
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    for (what, token) in [
        ("expired", trusted.sign(&expired)),
        ("wrongly signed", forger.sign(&claims())),
    ] {
        let errors = refused(&broker.bootstrap, token, &topic).await;
        assert!(
            // RFC 7628's error challenge, which Kafka's broker sends too.
            errors.iter().any(|e| e.contains("Authentication failure")
                && e.contains(r#"SASL authentication error: {"status":"invalid_token"}"#)),
            "{what}: {errors:?}"
        );
    }
    assert_eq!(broker.logged("panicked"), Vec::<String>::new());

    // The valid token: its records start at offset 0 (the refused clients
    // wrote nothing), and a group reads them back as User:alice.
    let valid = bearer(trusted.sign(&claims()));
    let producer: FutureProducer<Bearer> = config(&broker.bootstrap)
        .set("message.timeout.ms", "20000")
        .create_with_context(valid.clone())
        .expect("producer");
    let values: Vec<Vec<u8>> = (0..5).map(|i| format!("jwt-{i}").into_bytes()).collect();
    for (i, value) in values.iter().enumerate() {
        let delivered = producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(0)
                    .payload(value),
                Timeout::After(common::WAIT),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce with a valid token: {e}"));
        assert_eq!(delivered.offset, i as i64);
    }
    let consumer: StreamConsumer<Bearer> = config(&broker.bootstrap)
        .set("group.id", format!("{topic}-group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(valid.clone())
        .expect("group consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    read_in_group_and_commit(&consumer, &topic, &values).await;
    let errors = valid.errors.0.lock().expect("errors lock").clone();
    assert!(errors.is_empty(), "{errors:?}");
}
