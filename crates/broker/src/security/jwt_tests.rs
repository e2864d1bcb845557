use std::sync::OnceLock;

use fjord_testkit::jwt::{self as mint, TestKey};
use serde_json::{json, Value};

use super::*;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "kafka-broker";

/// One RSA key for the module: generating 2048-bit keys is slow.
pub(crate) fn rsa_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::rsa("rsa-1"))
}

pub(crate) fn ec_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::ec("ec-1"))
}

fn verification() -> Verification {
    let jwks = mint::jwks(&[rsa_key(), ec_key()]);
    Verification::Jwks(Jwks::parse(jwks.as_bytes()).expect("the JWKS parses"))
}

fn rules() -> ClaimRules {
    ClaimRules {
        issuer: Some(ISSUER.into()),
        audiences: vec!["other".into(), AUDIENCE.into()],
        ..ClaimRules::default()
    }
}

fn now_ms() -> i64 {
    mint::now_s() * 1000
}

fn check(token: &str) -> Result<ValidToken, JwtError> {
    validate(token, &verification(), &rules(), now_ms())
}

fn claims() -> Value {
    mint::claims("alice", ISSUER, AUDIENCE)
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

#[test]
fn rs256_and_es256_tokens_from_the_jwks_are_valid() {
    for key in [rsa_key(), ec_key()] {
        // One set of claims: a second call may fall in the next second
        // (signing with RSA is slow in a debug build) and expire later.
        let claims = claims();
        let valid = check(&key.sign(&claims)).unwrap_or_else(|e| panic!("{}: {e}", key.alg()));
        assert_eq!(valid.subject, "alice");
        assert_eq!(valid.expires_ms, claims["exp"].as_i64().unwrap() * 1000);
        assert_eq!(valid.scopes, vec!["kafka".to_string()]);
    }
}

#[test]
fn expired_tokens_are_refused_beyond_the_clock_skew() {
    let now = mint::now_s();
    let expired = with(claims(), "exp", json!(now - 31));
    assert_eq!(check(&rsa_key().sign(&expired)), Err(JwtError::Expired));
    // Within sasl.oauthbearer.clock.skew.seconds (30 by default) it passes.
    let just = with(
        with(claims(), "exp", json!(now - 10)),
        "iat",
        json!(now - 100),
    );
    assert!(check(&rsa_key().sign(&just)).is_ok());
}

#[test]
fn tokens_not_yet_valid_or_issued_in_the_future_are_refused() {
    let now = mint::now_s();
    let early = with(claims(), "nbf", json!(now + 120));
    assert_eq!(check(&ec_key().sign(&early)), Err(JwtError::NotYetValid));
    let future = with(claims(), "iat", json!(now + 120));
    assert_eq!(
        check(&ec_key().sign(&future)),
        Err(JwtError::IssuedInFuture)
    );
    let ok = with(claims(), "nbf", json!(now - 5));
    assert!(check(&ec_key().sign(&ok)).is_ok());
}

#[test]
fn issuer_and_audience_must_be_the_expected_ones() {
    let wrong_issuer = with(claims(), "iss", json!("https://evil.test"));
    assert_eq!(check(&rsa_key().sign(&wrong_issuer)), Err(JwtError::Issuer));
    let mut no_issuer = claims();
    no_issuer.as_object_mut().unwrap().remove("iss");
    assert_eq!(check(&rsa_key().sign(&no_issuer)), Err(JwtError::Issuer));

    let wrong_audience = with(claims(), "aud", json!("someone-else"));
    assert_eq!(
        check(&rsa_key().sign(&wrong_audience)),
        Err(JwtError::Audience)
    );
    let listed = with(claims(), "aud", json!(["x", AUDIENCE]));
    assert!(check(&rsa_key().sign(&listed)).is_ok());
    // Without expectations, any issuer and audience pass.
    let open = ClaimRules::default();
    assert!(validate(
        &rsa_key().sign(&wrong_issuer),
        &verification(),
        &open,
        now_ms()
    )
    .is_ok());
}

#[test]
fn a_signature_by_another_key_is_refused() {
    // Same kid and algorithm as a published key, but not its private half.
    let impostor = TestKey::ec(ec_key().kid());
    assert_eq!(check(&impostor.sign(&claims())), Err(JwtError::Signature));
    // A valid token whose payload was changed after signing.
    let token = rsa_key().sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = mint::unsecured(&with(claims(), "sub", json!("admin")));
    let forged_payload = forged.split('.').nth(1).unwrap();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(check(&tampered), Err(JwtError::Signature));
}

#[test]
fn an_unknown_kid_is_refused() {
    let stranger = TestKey::ec("not-in-the-jwks");
    assert_eq!(
        check(&stranger.sign(&claims())),
        Err(JwtError::UnknownKey {
            kid: Some("not-in-the-jwks".into()),
            alg: "ES256".into()
        })
    );
    // A token naming no kid is checked against the keys of its type.
    let no_kid = ec_key().sign_with_header(&json!({"alg": "ES256"}), &claims());
    assert!(check(&no_kid).is_ok());
    // An RSA kid with an EC algorithm finds no key.
    let mismatched = ec_key().sign_with_header(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims());
    assert!(matches!(
        check(&mismatched),
        Err(JwtError::UnknownKey { .. })
    ));
}

#[test]
fn alg_none_is_refused_unless_the_unsecured_validator_is_chosen() {
    let unsigned = mint::unsecured(&claims());
    assert_eq!(check(&unsigned), Err(JwtError::Algorithm("none".into())));
    // An HMAC algorithm (key confusion with a public key) is refused too.
    let hs = rsa_key().sign_with_header(&json!({"alg": "HS256", "kid": "rsa-1"}), &claims());
    assert_eq!(check(&hs), Err(JwtError::Algorithm("HS256".into())));

    let unsecured = validate(&unsigned, &Verification::Unsecured, &rules(), now_ms());
    assert_eq!(unsecured.map(|t| t.subject), Ok("alice".to_string()));
    // The unsecured validator takes only unsigned tokens.
    let signed = rsa_key().sign(&claims());
    assert!(matches!(
        validate(&signed, &Verification::Unsecured, &rules(), now_ms()),
        Err(JwtError::Algorithm(_))
    ));
    // ... and still checks expiry.
    let expired = mint::unsecured(&with(claims(), "exp", json!(mint::now_s() - 3600)));
    assert_eq!(
        validate(&expired, &Verification::Unsecured, &rules(), now_ms()),
        Err(JwtError::Expired)
    );
}

#[test]
fn required_claims_must_be_present_and_typed() {
    for missing in ["exp", "iat", "sub"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        assert_eq!(
            check(&rsa_key().sign(&c)),
            Err(JwtError::Claim(missing.into())),
            "{missing}"
        );
    }
    let text_exp = with(claims(), "exp", json!("tomorrow"));
    assert_eq!(
        check(&rsa_key().sign(&text_exp)),
        Err(JwtError::Claim("exp".into()))
    );
    let blank_sub = with(claims(), "sub", json!("  "));
    assert_eq!(
        check(&rsa_key().sign(&blank_sub)),
        Err(JwtError::Claim("sub".into()))
    );
    // sasl.oauthbearer.sub.claim.name picks another claim.
    let named = ClaimRules {
        sub_claim: "client_id".into(),
        ..rules()
    };
    let token = rsa_key().sign(&with(claims(), "client_id", json!("svc")));
    let valid = validate(&token, &verification(), &named, now_ms()).unwrap();
    assert_eq!(valid.subject, "svc");
}

#[test]
fn malformed_tokens_and_key_sets_are_refused() {
    for token in ["", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.", "W10.e30."] {
        assert!(
            matches!(check(token), Err(JwtError::Malformed(_))),
            "{token:?}"
        );
    }
    assert!(matches!(Jwks::parse(b"{}"), Err(JwksError::NoKeys)));
    assert!(matches!(Jwks::parse(b"[1"), Err(JwksError::Json(_))));
    let only_enc = json!({"keys": [with(ec_key().jwk(), "use", json!("enc"))]});
    assert!(matches!(
        Jwks::parse(only_enc.to_string().as_bytes()),
        Err(JwksError::NoUsableKey)
    ));
}
