use std::path::Path;

use fjord_testkit::tls::{SubjectAttribute as Dn, TestCa};

use super::*;
use crate::configs::StaticConfigs;

fn statics(configs: &[(&str, &str)]) -> StaticConfigs {
    let mut statics = StaticConfigs::default();
    for (name, value) in configs {
        statics.values.insert(name.to_string(), value.to_string());
    }
    statics
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn subject_in_rfc2253_as_java_prints_it() {
    let ca = TestCa::new("test CA");
    let client = ca.client(&[
        (Dn::CountryName, "GB"),
        (Dn::OrganizationName, "Acme, Inc."),
        (Dn::OrganizationalUnitName, "a+b=c;<d>\"e\\"),
        (Dn::CommonName, " #alice "),
    ]);
    assert_eq!(
        subject_of(&client.der).unwrap(),
        r#"CN=\ \#alice\ ,OU=a\+b\=c\;\<d\>\"e\\,O=Acme\, Inc.,C=GB"#
    );
    // Attributes without an RFC 2253 keyword: the OID and the value's DER in hex.
    let email = ca.client(&[
        (Dn::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), "a@b"),
        (Dn::CommonName, "bob"),
    ]);
    assert_eq!(
        subject_of(&email.der).unwrap(),
        "CN=bob,1.2.840.113549.1.9.1=#0c03614062"
    );
    assert_eq!(subject_of(b"\x30\x03\x02\x01"), None);
}

#[test]
fn settings_by_kafka_names_with_listener_overrides() {
    let settings = TlsSettings::from_statics(
        &statics(&[
            ("ssl.keystore.location", "/general.pem"),
            ("listener.name.secure.ssl.keystore.location", "/secure.pem"),
            ("ssl.keystore.type", "PEM"),
            ("ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
            ("listener.name.secure.ssl.client.auth", "required"),
            ("ssl.enabled.protocols", "TLSv1.2, TLSv1.3"),
            ("listener.name.secure.ssl.protocol", "TLSv1.2"),
        ]),
        "SECURE",
    )
    .unwrap();
    assert_eq!(
        settings.keystore,
        KeyStore::File(PemSource::File {
            config: "listener.name.secure.ssl.keystore.location".into(),
            path: "/secure.pem".into()
        })
    );
    assert_eq!(settings.client_auth, ClientAuth::Required);
    assert!(matches!(
        settings.truststore,
        Some(PemSource::Inline { .. })
    ));
    assert_eq!(settings.versions, vec![&rustls::version::TLS12]);

    let other = TlsSettings::from_statics(
        &statics(&[
            ("ssl.keystore.certificate.chain", "chain"),
            ("ssl.keystore.key", "key"),
        ]),
        "SSL",
    )
    .unwrap();
    assert!(matches!(other.keystore, KeyStore::Inline { .. }));
    assert_eq!(other.client_auth, ClientAuth::None);
    assert_eq!(other.versions.len(), 2, "both versions by default");
}

#[test]
fn what_cannot_be_served_is_refused_naming_the_config() {
    let key = ("ssl.keystore.location", "/k.pem");
    for (configs, expected) in [
        (vec![], "ssl.keystore.location"),
        (vec![key, ("ssl.keystore.key", "k")], "set only one"),
        (vec![("ssl.keystore.key", "k")], "together"),
        (
            vec![key, ("ssl.keystore.type", "JKS")],
            "configuration ssl.keystore.type",
        ),
        (
            vec![key, ("ssl.key.password", "p")],
            "configuration ssl.key.password",
        ),
        (
            vec![key, ("ssl.keystore.password", "p")],
            "configuration ssl.keystore.password",
        ),
        (
            vec![key, ("ssl.client.auth", "required")],
            "ssl.truststore.location",
        ),
        (
            vec![key, ("ssl.client.auth", "maybe")],
            "configuration ssl.client.auth",
        ),
        (
            vec![key, ("ssl.enabled.protocols", "TLSv1.1")],
            "configuration ssl.enabled.protocols",
        ),
        (
            vec![key, ("ssl.protocol", "SSLv3")],
            "configuration ssl.protocol",
        ),
        (
            vec![
                key,
                ("ssl.enabled.protocols", "TLSv1.3"),
                ("ssl.protocol", "TLSv1.2"),
            ],
            "no protocol version",
        ),
        (
            vec![
                key,
                ("listener.name.ssl.ssl.principal.mapping.rules", "RULE:x"),
            ],
            "configuration listener.name.ssl.ssl.principal.mapping.rules",
        ),
    ] {
        let refused = TlsSettings::from_statics(&statics(&configs), "SSL").unwrap_err();
        assert!(refused.contains(expected), "{configs:?}: {refused}");
    }
}

#[test]
fn files_that_do_not_load_are_refused_naming_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let (certificate, key, both) = ca.server().write(dir.path(), "server");
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let open = |configs: &[(&str, &str)]| TlsListener::open(&statics(configs), "SSL").map(|_| ());

    open(&[("ssl.keystore.location", path(&both))]).unwrap();
    for (configs, expected) in [
        (
            vec![("ssl.keystore.location", path(&missing))],
            "ssl.keystore.location: cannot read",
        ),
        (
            vec![("ssl.keystore.location", path(&garbage))],
            "ssl.keystore.location: no PEM certificate",
        ),
        (
            vec![("ssl.keystore.location", path(&certificate))],
            "ssl.keystore.location: no usable PEM private key",
        ),
        (
            vec![
                ("ssl.keystore.location", path(&both)),
                ("ssl.client.auth", "requested"),
                ("ssl.truststore.location", path(&key)),
            ],
            "ssl.truststore.location: no PEM certificate",
        ),
    ] {
        let refused = open(&configs).err().unwrap();
        assert!(refused.contains(expected), "{configs:?}: {refused}");
    }
    // A key that does not belong to the certificate.
    let other = ca.server();
    let mismatched = dir.path().join("mismatched.pem");
    std::fs::write(
        &mismatched,
        format!(
            "{}{}",
            other.key_pem,
            std::fs::read_to_string(&certificate).unwrap()
        ),
    )
    .unwrap();
    let refused = open(&[("ssl.keystore.location", path(&mismatched))])
        .err()
        .unwrap();
    assert!(refused.contains("ssl.keystore.location"), "{refused}");

    // Inline PEM on one line, as a properties file gives it.
    let issued = ca.server();
    let one_line = |pem: &str| pem.replace('\n', " ");
    open(&[
        (
            "ssl.keystore.certificate.chain",
            &one_line(&issued.certificate_pem),
        ),
        ("ssl.keystore.key", &one_line(&issued.key_pem)),
        ("ssl.truststore.certificates", &one_line(&ca.pem())),
        ("ssl.client.auth", "required"),
    ])
    .unwrap();
}

#[test]
fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, both) = TestCa::new("first").server().write(dir.path(), "server");
    let listener =
        TlsListener::open(&statics(&[("ssl.keystore.location", path(&both))]), "SSL").unwrap();
    let first = Arc::clone(&listener.current.read());
    listener.reload_if_changed();
    assert!(
        Arc::ptr_eq(&first, &listener.current.read()),
        "unchanged files are not reloaded"
    );

    std::fs::write(&both, "broken").unwrap();
    listener.reload_if_changed();
    assert!(
        Arc::ptr_eq(&first, &listener.current.read()),
        "a broken file keeps the old config"
    );

    let replacement = dir.path().join("next.pem");
    let next = TestCa::new("second").server();
    std::fs::write(
        &replacement,
        format!("{}{}", next.key_pem, next.certificate_pem),
    )
    .unwrap();
    std::fs::rename(&replacement, &both).unwrap();
    listener.reload_if_changed();
    assert!(
        !Arc::ptr_eq(&first, &listener.current.read()),
        "the new file is taken"
    );
}

/// A client handshake against `listener` over loopback, presenting the
/// client certificate when given: the principal the broker assigns, or
/// None when it dropped the client.
async fn principal_after_handshake(
    listener: &TlsListener,
    ca: &TestCa,
    client: Option<&fjord_testkit::tls::Issued>,
    protocol: SecurityProtocol,
) -> Option<Principal> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der())).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(issued) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(issued.der.clone())],
                PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let client = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        // TLS 1.3 clients finish before the server has checked their
        // certificate: a refusal shows on the first read.
        if let Ok(mut stream) = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
        {
            use tokio::io::AsyncReadExt;
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte).await;
        }
    });
    let (accepted, peer) = socket.accept().await.unwrap();
    let served = listener.handshake(accepted, peer, protocol).await;
    client.abort();
    served.map(|(_, principal)| principal)
}

#[tokio::test]
async fn the_handshake_names_the_principal_from_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    ca.write(&dir.path().join("ca.crt"));
    let (_, _, keystore) = ca.server().write(dir.path(), "server");
    let truststore = dir.path().join("ca.crt");
    let listener = TlsListener::open(
        &statics(&[
            ("ssl.keystore.location", path(&keystore)),
            ("ssl.truststore.location", path(&truststore)),
            ("ssl.client.auth", "requested"),
            (
                "ssl.principal.mapping.rules",
                "RULE:^CN=([^,]+),OU=Staff,O=Acme$/$1/L",
            ),
        ]),
        "SSL",
    )
    .unwrap();
    let staff = ca.client(&[
        (Dn::OrganizationName, "Acme"),
        (Dn::OrganizationalUnitName, "Staff"),
        (Dn::CommonName, "Carol"),
    ]);
    let principal = principal_after_handshake(&listener, &ca, Some(&staff), SecurityProtocol::Ssl)
        .await
        .unwrap();
    assert_eq!(principal.to_string(), "User:carol");
    // requested: no certificate is anonymous.
    let anonymous = principal_after_handshake(&listener, &ca, None, SecurityProtocol::Ssl)
        .await
        .unwrap();
    assert_eq!(anonymous, Principal::anonymous());
    // On SASL_SSL the certificate does not name the principal: SASL will.
    let sasl = principal_after_handshake(&listener, &ca, Some(&staff), SecurityProtocol::SaslSsl)
        .await
        .unwrap();
    assert_eq!(sasl, Principal::anonymous());
    // A subject no rule maps is refused.
    let outsider = ca.client(&[(Dn::OrganizationName, "Other"), (Dn::CommonName, "Dan")]);
    assert_eq!(
        principal_after_handshake(&listener, &ca, Some(&outsider), SecurityProtocol::Ssl).await,
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_handshakes_is_dropped_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, keystore) = TestCa::new("ca").server().write(dir.path(), "server");
    let listener = TlsListener::open(
        &statics(&[("ssl.keystore.location", path(&keystore))]),
        "SSL",
    )
    .unwrap();
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _silent = TcpStream::connect(socket.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, peer) = socket.accept().await.unwrap();
    let started = tokio::time::Instant::now();
    let served = listener
        .handshake(accepted, peer, SecurityProtocol::Ssl)
        .await;
    assert!(served.is_none());
    assert_eq!(started.elapsed(), HANDSHAKE_TIMEOUT);
}
