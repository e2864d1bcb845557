use fjord_storage::tokens::LocalTokenStore;

use super::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_700_000_000_000;

fn user(name: &str) -> Principal {
    Principal::user(StrBytes::from(name.to_owned()))
}

fn tokens_in(dir: &std::path::Path, configs: &[(&str, &str)]) -> DelegationTokens {
    let mut statics = StaticConfigs::default();
    for (name, value) in configs {
        statics.values.insert(name.to_string(), value.to_string());
    }
    let store = Arc::new(LocalTokenStore::open(dir).unwrap());
    DelegationTokens::from_statics(&statics, store).unwrap()
}

fn enabled(dir: &tempfile::TempDir) -> DelegationTokens {
    tokens_in(dir.path(), &[(SECRET_KEY, "s3cret")])
}

#[test]
fn the_hmac_is_hmac_sha512_keyed_with_the_secret() {
    // RFC 4231, test case 2.
    let key = hmac::Key::new(hmac::HMAC_SHA512, b"Jefe");
    let tag = DelegationTokens::hmac(&key, "what do ya want for nothing?");
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a\
         6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    );
}

#[tokio::test]
async fn without_a_secret_key_tokens_are_disabled() {
    let dir = tempfile::tempdir().unwrap();
    for configs in [&[][..], &[(SECRET_KEY, "  ")][..]] {
        let tokens = tokens_in(dir.path(), configs);
        assert!(!tokens.enabled());
        let alice = user("alice");
        assert_eq!(
            tokens.create(&alice, &alice, &[], 0, NOW).await,
            Err(TokenError::AuthDisabled)
        );
        assert_eq!(
            tokens.renew(&alice, b"x", 0, NOW).await,
            Err(TokenError::AuthDisabled)
        );
        assert_eq!(
            tokens.expire(&alice, b"x", 0, NOW).await,
            Err(TokenError::AuthDisabled)
        );
        assert_eq!(tokens.describe(&alice, None), Err(TokenError::AuthDisabled));
        assert_eq!(TokenError::AuthDisabled.code(), 61);
    }
}

#[tokio::test]
async fn a_new_token_has_kafkas_lifetimes_and_an_hmac_of_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = enabled(&dir);
    let (alice, admin) = (user("alice"), user("admin"));
    let token = tokens
        .create(&alice, &admin, &[user("bob")], 0, NOW)
        .await
        .unwrap();
    assert_eq!(token.info.issue_timestamp_ms, NOW);
    assert_eq!(token.info.expiry_timestamp_ms, NOW + DAY);
    assert_eq!(token.info.max_timestamp_ms, NOW + 7 * DAY);
    assert_eq!(token.info.owner.name, "alice");
    assert_eq!(token.info.requester.name, "admin");
    assert_eq!(token.info.token_id.len(), 22, "a Kafka UUID string");
    let key = hmac::Key::new(hmac::HMAC_SHA512, b"s3cret");
    assert_eq!(
        token.hmac,
        DelegationTokens::hmac(&key, &token.info.token_id)
    );
    assert_eq!(token.hmac.len(), 64);

    // A shorter requested lifetime caps both times; a longer one is cut
    // to delegation.token.max.lifetime.ms.
    let short = tokens
        .create(&alice, &alice, &[], 5_000, NOW)
        .await
        .unwrap();
    assert_eq!(short.info.max_timestamp_ms, NOW + 5_000);
    assert_eq!(short.info.expiry_timestamp_ms, NOW + 5_000);
    let long = tokens
        .create(&alice, &alice, &[], 30 * DAY, NOW)
        .await
        .unwrap();
    assert_eq!(long.info.max_timestamp_ms, NOW + 7 * DAY);

    let group = Principal::new(
        StrBytes::from_static_str("Group"),
        StrBytes::from_static_str("g"),
    );
    assert_eq!(
        tokens.create(&alice, &alice, &[group], 0, NOW).await,
        Err(TokenError::InvalidPrincipalType)
    );
}

#[tokio::test]
async fn only_owners_and_renewers_renew_or_expire_and_never_past_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = enabled(&dir);
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let token = tokens
        .create(&alice, &alice, std::slice::from_ref(&bob), 0, NOW)
        .await
        .unwrap();
    let hmac = token.hmac.clone();

    assert_eq!(
        tokens.renew(&alice, &hmac, 0, NOW + 1_000).await,
        Ok(NOW + 1_000 + DAY)
    );
    assert_eq!(
        tokens.renew(&bob, &hmac, 60_000, NOW + 2_000).await,
        Ok(NOW + 62_000)
    );
    assert_eq!(
        tokens.renew(&carol, &hmac, 0, NOW).await,
        Err(TokenError::OwnerMismatch)
    );
    assert_eq!(
        tokens.renew(&alice, b"not an hmac", 0, NOW).await,
        Err(TokenError::NotFound)
    );
    // Once expired it cannot be renewed.
    assert_eq!(
        tokens.renew(&alice, &hmac, 0, NOW + 2 * DAY).await,
        Err(TokenError::Expired)
    );
    // A renewal stops at the maximum lifetime.
    let brief = tokens
        .create(&alice, &alice, &[], 90_000, NOW)
        .await
        .unwrap();
    assert_eq!(
        tokens.renew(&alice, &brief.hmac, 0, NOW + 1_000).await,
        Ok(NOW + 90_000)
    );

    // Expire: a period brings the expiry forward; a negative one removes.
    assert_eq!(
        tokens.expire(&bob, &hmac, 500, NOW + 3_000).await,
        Ok(NOW + 3_500)
    );
    assert_eq!(
        tokens.expire(&alice, &hmac, 0, NOW + 4_000).await,
        Err(TokenError::Expired)
    );
    let other = tokens.create(&alice, &alice, &[], 0, NOW).await.unwrap();
    assert_eq!(
        tokens.expire(&carol, &other.hmac, -1, NOW).await,
        Err(TokenError::OwnerMismatch)
    );
    assert_eq!(tokens.expire(&alice, &other.hmac, -1, NOW).await, Ok(-1));
    assert_eq!(
        tokens.renew(&alice, &other.hmac, 0, NOW).await,
        Err(TokenError::NotFound)
    );
}

#[tokio::test]
async fn describe_shows_what_the_principal_owns_or_renews() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = enabled(&dir);
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let a = tokens
        .create(&alice, &alice, std::slice::from_ref(&bob), 0, NOW)
        .await
        .unwrap();
    let c = tokens.create(&carol, &carol, &[], 0, NOW).await.unwrap();
    let ids = |shown: Vec<IssuedToken>| -> Vec<String> {
        let mut ids: Vec<String> = shown.into_iter().map(|t| t.info.token_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(tokens.describe(&alice, None).unwrap()),
        vec![a.info.token_id.clone()]
    );
    assert_eq!(
        ids(tokens.describe(&bob, None).unwrap()),
        vec![a.info.token_id.clone()]
    );
    assert_eq!(
        ids(tokens.describe(&carol, None).unwrap()),
        vec![c.info.token_id.clone()]
    );
    assert!(tokens.describe(&user("dave"), None).unwrap().is_empty());
    // The owners filter matches owners and renewers; an empty list nothing.
    assert_eq!(
        ids(tokens
            .describe(&bob, Some(std::slice::from_ref(&bob)))
            .unwrap()),
        vec![a.info.token_id.clone()]
    );
    assert!(tokens
        .describe(&alice, Some(std::slice::from_ref(&carol)))
        .unwrap()
        .is_empty());
    assert!(tokens.describe(&alice, Some(&[])).unwrap().is_empty());
    let shown = tokens.describe(&alice, None).unwrap();
    assert_eq!(shown[0].hmac, a.hmac);
}

#[tokio::test]
async fn a_token_authenticates_as_its_owner_until_it_expires_and_is_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = enabled(&dir);
    let alice = user("alice");
    let token = tokens.create(&alice, &alice, &[], 0, NOW).await.unwrap();
    let id = token.info.token_id.clone();
    let credential = tokens.credential(&id, NOW + 1).expect("a live token");
    assert_eq!(credential.owner, alice);
    assert!(credential.owner.token_authenticated);
    assert_eq!(*credential.password, STANDARD.encode(&token.hmac));
    assert_eq!(credential.expiry_timestamp_ms, NOW + DAY);
    assert!(!format!("{credential:?}").contains(credential.password.as_str()));
    assert!(tokens.credential("unknown", NOW).is_none());
    assert!(tokens.credential(&id, NOW + DAY + 1).is_none(), "expired");

    // The sweep removes it, durably.
    assert_eq!(tokens.remove_expired(NOW + 1).await, Ok(0));
    assert_eq!(tokens.remove_expired(NOW + DAY + 1).await, Ok(1));
    drop(tokens);
    let reopened = enabled(&dir);
    assert!(reopened.describe(&alice, None).unwrap().is_empty());
}

#[tokio::test]
async fn tokens_persist_and_keep_their_hmac_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("alice");
    let token = enabled(&dir)
        .create(&alice, &alice, &[], 0, NOW)
        .await
        .unwrap();
    let reopened = enabled(&dir);
    let shown = reopened.describe(&alice, None).unwrap();
    assert_eq!(shown, vec![token.clone()]);
    assert!(reopened.credential(&token.info.token_id, NOW).is_some());
    // Another secret makes other HMACs: the old ones no longer match.
    let rekeyed = tokens_in(dir.path(), &[(SECRET_KEY, "other")]);
    assert_eq!(
        rekeyed.renew(&alice, &token.hmac, 0, NOW).await,
        Err(TokenError::NotFound)
    );
    let file =
        std::fs::read_to_string(dir.path().join(fjord_storage::tokens::TOKENS_FILE)).unwrap();
    assert!(!file.contains("s3cret"));
}

#[test]
fn token_requests_need_an_authenticated_channel_and_no_token() {
    let mut ctx =
        RequestContext::for_tests(kafka_protocol::messages::ApiKey::CreateDelegationToken, 3);
    assert!(!requests_allowed(&ctx), "PLAINTEXT");
    ctx.security_protocol = SecurityProtocol::Ssl;
    assert!(!requests_allowed(&ctx), "SSL without a client certificate");
    ctx.principal = user("CN=client");
    assert!(requests_allowed(&ctx), "mutual SSL");
    ctx.security_protocol = SecurityProtocol::SaslPlaintext;
    assert!(requests_allowed(&ctx));
    ctx.principal.token_authenticated = true;
    assert!(!requests_allowed(&ctx), "token-authenticated");
}
