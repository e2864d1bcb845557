//! TLS listeners with the real binary and librdkafka: data through TLS
//! byte for byte (across Fetch responses and segments, the copying fetch
//! path), client certificates required and mapped to principals that the
//! ACLs see, a plaintext client on the TLS port closed, and certificates
//! reloaded without dropping connections. Certificates are made by the
//! tests (testkit's rcgen helpers).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{BinaryBroker, WAIT};
use fjord_testkit::tls::{SubjectAttribute as Dn, TestCa};
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Offset;

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Starts the binary with one SSL listener and `extra` configs.
fn start_ssl(data: &Path, keystore: &Path, extra: &[(&str, &str)]) -> BinaryBroker {
    let mut command = common::bare_serve_command();
    command.arg("--data-dir").arg(data);
    let keystore = path(keystore);
    let mut configs = vec![
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.as_str()),
    ];
    configs.extend_from_slice(extra);
    for (name, value) in configs {
        command.arg("--override").arg(format!("{name}={value}"));
    }
    BinaryBroker::start_command(command, data)
}

/// librdkafka's settings for TLS trusting `ca` (and presenting a client
/// certificate when given).
fn ssl_client(ca: &Path, client: Option<(&Path, &Path)>) -> Vec<(String, String)> {
    let mut settings = vec![
        ("security.protocol".to_string(), "ssl".to_string()),
        ("ssl.ca.location".to_string(), path(ca)),
    ];
    if let Some((certificate, key)) = client {
        settings.push(("ssl.certificate.location".to_string(), path(certificate)));
        settings.push(("ssl.key.location".to_string(), path(key)));
    }
    settings
}

fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn producer(
    bootstrap: &str,
    settings: &[(String, String)],
    extra: &[(&str, &str)],
) -> FutureProducer {
    let mut all = borrowed(settings);
    all.extend_from_slice(extra);
    common::producer(bootstrap, &all)
}

/// Metadata through a fresh client: Ok when the connection and the
/// handshake succeed.
async fn metadata(
    bootstrap: &str,
    settings: &[(String, String)],
    timeout: Duration,
) -> Result<usize, KafkaError> {
    let consumer: BaseConsumer = common::consumer_config(bootstrap, &borrowed(settings))
        .create()
        .expect("create consumer");
    common::blocking(move || {
        consumer
            .fetch_metadata(None, timeout)
            .map(|m| m.brokers().len())
    })
    .await
}

/// A temp dir with a CA (`certs/ca.crt`) and a server keystore from it
/// (`certs/server.pem`).
struct Setup {
    dir: tempfile::TempDir,
    certs: PathBuf,
    ca: TestCa,
    keystore: PathBuf,
}

/// None when the tests run against an external broker.
fn setup() -> Option<Setup> {
    common::init_logging();
    if common::skipped_for_external("starts a broker with an SSL listener") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let ca = TestCa::new("fjord test CA");
    ca.write(&certs.join("ca.crt"));
    let (_, _, keystore) = ca.server().write(&certs, "server");
    Some(Setup {
        dir,
        certs,
        ca,
        keystore,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_through_tls_come_back_byte_for_byte() {
    let Some(Setup {
        dir,
        certs,
        ca: _,
        keystore,
    }) = setup()
    else {
        return;
    };
    let broker = start_ssl(&dir.path().join("data"), &keystore, &[]);
    let client = ssl_client(&certs.join("ca.crt"), None);

    let topic = common::unique_topic("tls");
    let mut admin_config = ClientConfig::new();
    admin_config.set("bootstrap.servers", &broker.bootstrap);
    for (k, v) in &client {
        admin_config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = admin_config.create().expect("admin");
    // Small segments: the records span many of them.
    let new_topic = NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
        .set("internal.segment.bytes", "262144");
    let created = admin
        .create_topics([&new_topic], &common::admin_options())
        .await
        .expect("CreateTopics over TLS");
    assert_eq!(created, vec![Ok(topic.clone())]);

    // 6 MB of records that differ in every byte position.
    let producer = producer(
        &broker.bootstrap,
        &client,
        &[
            ("acks", "all"),
            ("linger.ms", "20"),
            ("batch.size", "65536"),
        ],
    );
    let mut produced = Vec::new();
    for i in 0..600u32 {
        let value: Vec<u8> = (0..10_000u32)
            .map(|j| (i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7)) % 251) as u8)
            .collect();
        produced.push(value);
    }
    let sends: Vec<_> = produced
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let key = i.to_string();
            producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key(&key)
                        .payload(value)
                        .partition(0),
                )
                .map_err(|(e, _)| e)
                .expect("queue record")
        })
        .collect();
    for (i, sent) in sends.into_iter().enumerate() {
        let delivery = sent.await.expect("delivery").expect("produce over TLS");
        assert_eq!((delivery.partition, delivery.offset), (0, i as i64));
    }
    let segments = common::segment_files(&broker.data_dir, &topic, 0);
    assert!(segments.len() >= 10, "records span segments: {segments:?}");

    // Fetch responses of at most 512 KiB: a dozen or more of them.
    let mut consumer_settings = borrowed(&client);
    consumer_settings.push(("max.partition.fetch.bytes", "524288"));
    consumer_settings.push(("fetch.max.bytes", "524288"));
    consumer_settings.push(("message.max.bytes", "524288"));
    let consumer: rdkafka::consumer::StreamConsumer =
        common::consumer_config(&broker.bootstrap, &consumer_settings)
            .create()
            .expect("consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    for (i, expected) in produced.iter().enumerate() {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("records within the time limit")
            .expect("consume over TLS");
        use rdkafka::Message;
        assert_eq!(message.offset(), i as i64);
        assert_eq!(message.key(), Some(i.to_string().as_bytes()));
        assert!(
            message.payload() == Some(expected.as_slice()),
            "record {i} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificates_name_the_principal_acls_see() {
    let Some(Setup {
        dir,
        certs,
        ca,
        keystore,
    }) = setup()
    else {
        return;
    };
    let (alice_crt, alice_key, _) = ca
        .client(&[(Dn::OrganizationName, "Acme"), (Dn::CommonName, "Alice")])
        .write(&certs, "alice");
    ca.client(&[(Dn::OrganizationName, "Acme"), (Dn::CommonName, "Bob")])
        .write(&certs, "bob");
    let stranger = TestCa::new("another CA");
    let (mallory_crt, mallory_key, _) = stranger
        .client(&[(Dn::CommonName, "Alice")])
        .write(&certs, "mallory");

    let truststore = path(&certs.join("ca.crt"));
    let broker = start_ssl(
        &dir.path().join("data"),
        &keystore,
        &[
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &truststore),
            ("ssl.client.auth", "required"),
            // CN=Alice,O=Acme → alice
            (
                "ssl.principal.mapping.rules",
                "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT",
            ),
            ("authorizer.class.name", "fjord"),
            ("super.users", "User:alice"),
            ("allow.everyone.if.no.acl.found", "false"),
        ],
    );
    let ca_path = certs.join("ca.crt");

    // No certificate, or one from a CA the broker does not trust: refused.
    for (who, settings) in [
        ("no certificate", ssl_client(&ca_path, None)),
        (
            "untrusted CA",
            ssl_client(&ca_path, Some((&mallory_crt, &mallory_key))),
        ),
    ] {
        let refused = metadata(&broker.bootstrap, &settings, Duration::from_secs(5)).await;
        assert!(refused.is_err(), "{who}: {refused:?}");
    }

    // Alice's certificate maps to User:alice, a super user: she produces.
    let alice = ssl_client(&ca_path, Some((&alice_crt, &alice_key)));
    let topic = common::unique_topic("tls-acl");
    let alice_producer = producer(&broker.bootstrap, &alice, &[]);
    let delivered = alice_producer
        .send(FutureRecord::to(&topic).key("k").payload("by alice"), WAIT)
        .await
        .map_err(|(e, _)| e)
        .expect("alice produces");
    assert_eq!(delivered.offset, 0);

    // The principal reaches the ACL checks: DescribeAcls needs Describe on
    // the cluster, which the super user User:alice has and User:bob lacks.
    let ca_pem = ca.pem();
    assert_eq!(
        describe_acls_error(&broker.bootstrap, &ca_pem, &certs, "alice").await,
        0
    );
    assert_eq!(
        describe_acls_error(&broker.bootstrap, &ca_pem, &certs, "bob").await,
        31,
        "CLUSTER_AUTHORIZATION_FAILED for User:bob"
    );
}

/// A DescribeAcls request over TLS with the client certificate written as
/// `<stem>.crt` / `<stem>.key` in `certs`: the answer's error code.
async fn describe_acls_error(bootstrap: &str, ca_pem: &str, certs: &Path, stem: &str) -> i16 {
    use kafka_protocol::messages::{ApiKey, DescribeAclsRequest, DescribeAclsResponse};
    use kafka_protocol::protocol::Decodable;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certs.join(format!("{stem}.crt")))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(certs.join(format!("{stem}.key"))).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(bootstrap).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with a client certificate");
    let mut request = DescribeAclsRequest::default();
    request.resource_type_filter = 1; // ANY
    request.pattern_type_filter = 1; // ANY
    request.operation = 1; // ANY
    request.permission_type = 1; // ANY
    let frame = fjord_testkit::frames::request(ApiKey::DescribeAcls, 3, 7, &request);
    tls.write_all(&frame).await.unwrap();
    let mut len = [0u8; 4];
    tls.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    tls.read_exact(&mut body).await.unwrap();
    // Response header v1 (flexible): correlation id and empty tagged fields.
    let mut answer = bytes::Bytes::from(body).slice(5..);
    DescribeAclsResponse::decode(&mut answer, 3)
        .unwrap()
        .error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_on_the_tls_port_is_closed() {
    let Some(Setup {
        dir,
        certs,
        ca: _,
        keystore,
    }) = setup()
    else {
        return;
    };
    let broker = start_ssl(&dir.path().join("data"), &keystore, &[]);

    // An ApiVersions v0 request in the clear.
    let mut socket = std::net::TcpStream::connect(&broker.bootstrap).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let frame: &[u8] = &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0];
    socket.write_all(frame).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = socket.read_to_end(&mut answer);
    assert!(
        read.is_ok()
            || matches!(read, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "closed, not left hanging: {read:?} after {:?}",
        started.elapsed()
    );
    // At most a TLS alert record (content type 21), never a Kafka answer.
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");

    // librdkafka in plaintext gets no metadata; the broker still serves TLS.
    let plaintext = metadata(&broker.bootstrap, &[], Duration::from_secs(3)).await;
    assert!(plaintext.is_err(), "{plaintext:?}");
    let tls = ssl_client(&certs.join("ca.crt"), None);
    assert_eq!(metadata(&broker.bootstrap, &tls, WAIT).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificates_serve_new_clients_and_keep_old_connections() {
    common::init_logging();
    if common::skipped_for_external("starts a broker with an SSL listener") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    old_ca.write(&certs.join("old-ca.crt"));
    new_ca.write(&certs.join("new-ca.crt"));
    let keystore: PathBuf = certs.join("server.pem");
    let write_keystore = |ca: &TestCa| {
        let issued = ca.server();
        let next = certs.join("server.pem.next");
        std::fs::write(
            &next,
            format!("{}{}", issued.key_pem, issued.certificate_pem),
        )
        .unwrap();
        std::fs::rename(&next, &keystore).unwrap();
    };
    write_keystore(&old_ca);
    let broker = start_ssl(&dir.path().join("data"), &keystore, &[]);
    let old_client = ssl_client(&certs.join("old-ca.crt"), None);
    let new_client = ssl_client(&certs.join("new-ca.crt"), None);
    let topic = common::unique_topic("tls-reload");

    let old_producer = producer(&broker.bootstrap, &old_client, &[]);
    let send = |producer: &FutureProducer, value: &'static str| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic)
                        .key("k")
                        .payload(value)
                        .partition(0),
                    WAIT,
                )
                .await
                .map_err(|(e, _)| e)
        }
    };
    send(&old_producer, "before")
        .await
        .expect("produce before the reload");

    // A broken file keeps the certificate in use.
    std::fs::write(&keystore, "not PEM").unwrap();
    common::wait_for("the broken file to be reported", WAIT, || async {
        (!broker
            .logged("previous certificates stay in use")
            .is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(
        metadata(&broker.bootstrap, &old_client, WAIT)
            .await
            .unwrap(),
        1
    );

    write_keystore(&new_ca);
    let started = Instant::now();
    loop {
        if metadata(&broker.bootstrap, &new_client, Duration::from_secs(2))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the new certificate was never served"
        );
    }
    // New clients trusting only the old CA are refused now...
    assert!(
        metadata(&broker.bootstrap, &old_client, Duration::from_secs(3))
            .await
            .is_err()
    );
    // ... while the connection made before the change still works.
    let delivery = send(&old_producer, "after")
        .await
        .expect("old connection kept");
    assert_eq!((delivery.partition, delivery.offset), (0, 1));
    let metrics_before = old_producer.client().fetch_metadata(Some(&topic), WAIT);
    assert!(metrics_before.is_ok(), "{:?}", metrics_before.err());
}
