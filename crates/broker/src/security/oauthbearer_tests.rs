use std::sync::Arc;

use fjord_testkit::jwt as mint;
use kafka_protocol::error::ResponseError;
use serde_json::json;

use super::*;
use crate::security::jwt::tests::{ec_key, rsa_key};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "kafka-broker";

fn statics(configs: &[(&str, &str)]) -> StaticConfigs {
    let mut statics = StaticConfigs::default();
    for (name, value) in configs {
        statics.values.insert(name.to_string(), value.to_string());
    }
    statics
}

/// A validator reading a JWKS file written into `dir`, as an operator
/// configures it.
fn validator(dir: &tempfile::TempDir) -> Arc<OAuthBearerValidator> {
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, mint::jwks(&[rsa_key(), ec_key()])).unwrap();
    let url = format!("file://{}", path.display());
    let configs = statics(&[
        (JWKS_URL, &url),
        ("sasl.oauthbearer.expected.issuer", ISSUER),
        ("sasl.oauthbearer.expected.audience", AUDIENCE),
    ]);
    Arc::new(
        OAuthBearerValidator::from_statics(&configs)
            .expect("configs are good")
            .expect("a validator is configured"),
    )
}

fn first_message(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

#[test]
fn a_valid_token_authenticates_as_its_subject_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let claims = mint::claims("alice", ISSUER, AUDIENCE);
    let mut server = validator(&dir).server();
    assert_eq!(server.mechanism(), "OAUTHBEARER");
    match server.step(&first_message(&rsa_key().sign(&claims))) {
        Ok(SaslStep::Complete {
            principal,
            final_message,
            credential_expires,
        }) => {
            assert_eq!(principal.to_string(), "User:alice");
            assert!(!principal.token_authenticated);
            assert!(final_message.is_empty());
            let exp = claims["exp"].as_u64().unwrap();
            assert_eq!(
                credential_expires,
                Some(UNIX_EPOCH + Duration::from_secs(exp))
            );
        }
        other => panic!("expected completion, got {other:?}"),
    }
    // Nothing more is taken once complete.
    let again = server.step(b"\x01").unwrap_err();
    assert_eq!(again.error, ResponseError::IllegalSaslState);
}

#[test]
fn a_refused_token_gets_the_json_challenge_then_fails_on_the_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let validator = validator(&dir);
    let now = mint::now_s();
    let expired = json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
                         "iat": now - 7200, "exp": now - 3600});
    let wrong_issuer = mint::claims("alice", "https://evil.test", AUDIENCE);
    let stranger = mint::TestKey::ec("ec-1");
    for token in [
        rsa_key().sign(&expired),
        ec_key().sign(&wrong_issuer),
        stranger.sign(&mint::claims("alice", ISSUER, AUDIENCE)),
        mint::unsecured(&mint::claims("alice", ISSUER, AUDIENCE)),
    ] {
        let mut server = validator.server();
        match server.step(&first_message(&token)) {
            Ok(SaslStep::Challenge(challenge)) => {
                assert_eq!(challenge, br#"{"status":"invalid_token"}"#)
            }
            other => panic!("expected the error challenge, got {other:?}"),
        }
        let failure = server.step(&[0x01]).unwrap_err();
        assert_eq!(failure.error, ResponseError::SaslAuthenticationFailed);
        assert_eq!(failure.message, r#"{"status":"invalid_token"}"#);
    }
    // A second token instead of the acknowledgement is not a second try.
    let mut server = validator.server();
    assert!(matches!(
        server.step(&first_message(&rsa_key().sign(&expired))),
        Ok(SaslStep::Challenge(_))
    ));
    let good = rsa_key().sign(&mint::claims("alice", ISSUER, AUDIENCE));
    let failure = server.step(&first_message(&good)).unwrap_err();
    assert_eq!(failure.error, ResponseError::SaslAuthenticationFailed);
}

#[test]
fn malformed_first_messages_fail_without_a_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let validator = validator(&dir);
    let token = rsa_key().sign(&mint::claims("alice", ISSUER, AUDIENCE));
    for message in [
        Vec::new(),
        b"\x01".to_vec(),
        format!("auth=Bearer {token}").into_bytes(),
        format!("y,,\x01auth=Bearer {token}\x01\x01").into_bytes(),
        format!("p=tls-unique,,\x01auth=Bearer {token}\x01\x01").into_bytes(),
        format!("n,,\x01auth=Bearer {token}\x01").into_bytes(),
        format!("n,,\x01auth=Basic {token}\x01\x01").into_bytes(),
        b"n,,\x01auth=Bearer\x01\x01".to_vec(),
        b"n,,\x01\x01".to_vec(),
        format!("n,,\x01auth=Bearer {token}\x01auth=Bearer x\x01\x01").into_bytes(),
        format!("n,,\x01auth=Bearer {token}\x01bad-key=1\x01\x01").into_bytes(),
        format!("n,,\x01auth=Bearer {token}\x01k=\x01\x01").into_bytes(),
        format!("n,a=x=2,\x01auth=Bearer {token}\x01\x01").into_bytes(),
        vec![0xff, 0xfe],
    ] {
        let failure = validator.server().step(&message).unwrap_err();
        assert_eq!(
            failure.error,
            ResponseError::SaslAuthenticationFailed,
            "{message:?}"
        );
        assert!(!failure.message.contains(&token), "the token is not echoed");
    }
}

#[test]
fn extensions_are_taken_and_the_authzid_must_be_the_subject() {
    let parsed =
        parse_client_first(b"n,a=al=2Cice,\x01auth=bearer  abc.def.\x01traceId=x y\x01\x01")
            .expect("parses");
    assert_eq!(parsed.authzid.as_deref(), Some("al,ice"));
    assert_eq!(parsed.token, "abc.def.");
    assert_eq!(parsed.extensions, vec![("traceId", "x y")]);

    let dir = tempfile::tempdir().unwrap();
    let validator = validator(&dir);
    let token = ec_key().sign(&mint::claims("alice", ISSUER, AUDIENCE));
    let same = format!("n,a=alice,\x01auth=Bearer {token}\x01logicalCluster=lkc-1\x01\x01");
    assert!(matches!(
        validator.server().step(same.as_bytes()),
        Ok(SaslStep::Complete { .. })
    ));
    let other = format!("n,a=bob,\x01auth=Bearer {token}\x01\x01");
    let failure = validator.server().step(other.as_bytes()).unwrap_err();
    assert_eq!(failure.error, ResponseError::SaslAuthenticationFailed);
    assert!(
        failure.message.contains("authorization id (bob)"),
        "{}",
        failure.message
    );
}

#[test]
fn the_unsecured_validator_is_only_there_when_its_class_is_named() {
    assert!(OAuthBearerValidator::from_statics(&statics(&[]))
        .unwrap()
        .is_none());
    let unsecured = OAuthBearerValidator::from_statics(&statics(&[(
        CALLBACK_CLASS,
        UNSECURED_VALIDATOR_CLASS,
    )]))
    .unwrap()
    .map(Arc::new)
    .expect("the unsecured validator is configured");
    let token = mint::unsecured(&mint::claims("dev", "any", "any"));
    match unsecured.server().step(&first_message(&token)) {
        Ok(SaslStep::Complete { principal, .. }) => assert_eq!(principal.to_string(), "User:dev"),
        other => panic!("expected completion, got {other:?}"),
    }
    let signed = rsa_key().sign(&mint::claims("dev", "any", "any"));
    assert!(matches!(
        unsecured.server().step(&first_message(&signed)),
        Ok(SaslStep::Challenge(_))
    ));
}

#[test]
fn bad_oauthbearer_configs_stop_start_up_naming_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("file://{}/none.json", dir.path().display());
    let not_jwks = dir.path().join("not.json");
    std::fs::write(&not_jwks, "{\"keys\": 3}").unwrap();
    let not_jwks = format!("file://{}", not_jwks.display());
    for (configs, expected) in [
        (
            vec![(JWKS_URL, "https://idp.test/jwks")],
            "file:// URL only",
        ),
        (vec![(JWKS_URL, missing.as_str())], "cannot read"),
        (vec![(JWKS_URL, not_jwks.as_str())], "no \"keys\" array"),
        (
            vec![
                (JWKS_URL, missing.as_str()),
                (CALLBACK_CLASS, UNSECURED_VALIDATOR_CLASS),
            ],
            "choose signed or unsigned",
        ),
        (
            vec![
                (CALLBACK_CLASS, UNSECURED_VALIDATOR_CLASS),
                ("sasl.oauthbearer.clock.skew.seconds", "soon"),
            ],
            "Invalid value soon for configuration sasl.oauthbearer.clock.skew.seconds",
        ),
    ] {
        let refused = OAuthBearerValidator::from_statics(&statics(&configs)).unwrap_err();
        assert!(refused.contains(expected), "{configs:?}: {refused}");
    }
    assert_eq!(
        file_url_path("file:///etc/jwks.json"),
        Some("/etc/jwks.json")
    );
    assert_eq!(file_url_path("file://localhost/etc/j"), Some("/etc/j"));
    assert_eq!(file_url_path("file:/etc/j"), Some("/etc/j"));
    assert_eq!(file_url_path("file://host/etc/j"), None);
}
