//! SASL_SSL end to end with librdkafka and the real binary: SCRAM-SHA-512
//! inside TLS produces and consumes records byte for byte, and the
//! principal the ACLs see is the SASL user, not the client certificate
//! (Kafka's rule: on SASL_SSL the certificate authenticates nothing). Every
//! client here presents a certificate that would map to a super user on an
//! SSL listener; only the SASL user decides what it may do.

mod common;

use std::path::Path;

use common::sasl_clients::{
    add_scram_user, consume, produce, producer, refused_errors, sasl_config, Errors,
};
use common::BinaryBroker;
use fjord_broker::security::scram_credentials::ScramMechanism;
use fjord_testkit::tls::{SubjectAttribute as Dn, TestCa};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;

const SKIP: &str = "starts its own broker with a SASL_SSL listener and SCRAM users";

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}

/// The broker and the client settings every test client shares: the CA to
/// trust and alice's client certificate (CN=Alice,O=Acme, which the mapping
/// rule would turn into the super user User:alice).
struct SaslSsl {
    broker: BinaryBroker,
    tls: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

async fn start() -> SaslSsl {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::create_dir_all(&certs).expect("certs dir");
    let ca = TestCa::new("fjord SASL_SSL test CA");
    let ca_file = certs.join("ca.crt");
    ca.write(&ca_file);
    let (_, _, keystore) = ca.server().write(&certs, "server");
    let (alice_crt, alice_key, _) = ca
        .client(&[(Dn::OrganizationName, "Acme"), (Dn::CommonName, "Alice")])
        .write(&certs, "alice");

    add_scram_user(&data, "bob", "bob-secret", ScramMechanism::Sha512).await;
    add_scram_user(&data, "dave", "dave-secret", ScramMechanism::Sha512).await;

    let (keystore, truststore) = (path(&keystore), path(&ca_file));
    let mut command = common::bare_serve_command();
    command.arg("--data-dir").arg(&data);
    for (name, value) in [
        ("listeners", "SASL_SSL://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.as_str()),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", truststore.as_str()),
        ("ssl.client.auth", "required"),
        (
            "ssl.principal.mapping.rules",
            "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT",
        ),
        ("authorizer.class.name", "fjord"),
        ("super.users", "User:bob;User:alice"),
        ("allow.everyone.if.no.acl.found", "false"),
    ] {
        command.arg("--override").arg(format!("{name}={value}"));
    }
    let broker = BinaryBroker::start_command(command, &data);
    let tls = vec![
        ("security.protocol".to_string(), "SASL_SSL".to_string()),
        ("ssl.ca.location".to_string(), truststore),
        ("ssl.certificate.location".to_string(), path(&alice_crt)),
        ("ssl.key.location".to_string(), path(&alice_key)),
    ];
    SaslSsl {
        broker,
        tls,
        _dir: dir,
    }
}

impl SaslSsl {
    /// librdkafka's config for SCRAM-SHA-512 as `user` over TLS.
    fn client(&self, user: &str, password: &str) -> ClientConfig {
        let mut auth: Vec<(&str, &str)> = vec![
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", user),
            ("sasl.password", password),
        ];
        auth.extend(self.tls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        sasl_config(&self.broker.bootstrap, &auth)
    }
}

/// Values that differ in every byte position, all 256 byte values included.
fn values() -> Vec<Vec<u8>> {
    (0..20u32)
        .map(|i| {
            (0..(1000 + i * 997))
                .map(|j| (i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7)) % 256) as u8)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_tls_produces_and_consumes_exact_bytes() {
    common::init_logging();
    if common::skipped_for_external(SKIP) {
        return;
    }
    let setup = start().await;
    let bob = setup.client("bob", "bob-secret");
    let topic = common::unique_topic("sasl-ssl");
    let errors = Errors::default();
    let bob_producer = producer(&bob, &errors);
    let values = values();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(produce(&bob_producer, &topic, value).await, i as i64);
    }
    let consumed = consume(&bob, &topic, values.len()).await;
    assert_eq!(consumed.len(), values.len());
    for (i, (got, sent)) in consumed.iter().zip(&values).enumerate() {
        assert!(got == sent, "record {i} differs");
    }
    let errors = errors.0.lock().expect("errors lock").clone();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_is_the_sasl_user_not_the_certificate() {
    common::init_logging();
    if common::skipped_for_external(SKIP) {
        return;
    }
    let setup = start().await;
    let topic = common::unique_topic("sasl-ssl-acl");

    // dave authenticates (his SASL exchange succeeds) but is no super user
    // and has no ACL: refused, although his certificate names alice.
    let dave_errors = Errors::default();
    let dave = producer(
        setup
            .client("dave", "dave-secret")
            .set("message.timeout.ms", "5000"),
        &dave_errors,
    );
    let refused = dave
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload("by dave"),
            Timeout::After(common::WAIT),
        )
        .await
        .map(|delivery| delivery.offset)
        .map_err(|(e, _)| e);
    assert_eq!(
        refused,
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )),
        "User:dave must be refused; reported: {:?}",
        dave_errors.0.lock().expect("errors lock")
    );

    // bob, the super user, with the same certificate: allowed, and the
    // first record on the topic, so nothing of dave's was stored.
    let bob = setup.client("bob", "bob-secret");
    let bob_errors = Errors::default();
    let bob_producer = producer(&bob, &bob_errors);
    assert_eq!(produce(&bob_producer, &topic, b"by bob").await, 0);
    assert_eq!(consume(&bob, &topic, 1).await, vec![b"by bob".to_vec()]);

    // The certificate alone does not authenticate: a wrong password is
    // refused as on SASL_PLAINTEXT.
    let wrong = setup.client("bob", "not-bobs-password");
    let errors = refused_errors(&wrong, &topic).await;
    assert!(
        errors.iter().any(|e| e.contains(
            "Authentication failed during authentication due to invalid credentials with \
             SASL mechanism SCRAM-SHA-512"
        )),
        "{errors:?}"
    );
}
