//! The four delegation-token APIs through their handlers, at every version.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_delegation_token_request::CreatableRenewers;
use kafka_protocol::messages::describe_delegation_token_request::DescribeDelegationTokenOwner;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker, test_broker_with, TestBroker};
use super::{
    create_delegation_token, describe_delegation_token, expire_delegation_token,
    renew_delegation_token,
};
use crate::request_context::{Principal, RequestContext, SecurityProtocol};

const NOT_ALLOWED: i16 = ResponseError::DelegationTokenRequestNotAllowed.code();
const DISABLED: i16 = ResponseError::DelegationTokenAuthDisabled.code();

async fn with_secret() -> TestBroker {
    test_broker_with(|c| c.with("delegation.token.secret.key", "s3cret")).await
}

/// A request from `user` on a SASL_PLAINTEXT listener.
fn sasl(key: ApiKey, version: i16, user: &'static str) -> RequestContext {
    let mut ctx = ctx(key, version);
    ctx.security_protocol = SecurityProtocol::SaslPlaintext;
    ctx.principal = Principal::user(StrBytes::from_static_str(user));
    ctx
}

fn renewer(name: &'static str) -> CreatableRenewers {
    CreatableRenewers::default()
        .with_principal_type(StrBytes::from_static_str("User"))
        .with_principal_name(StrBytes::from_static_str(name))
}

#[tokio::test]
async fn plaintext_one_way_ssl_and_token_sessions_are_refused() {
    let broker = with_secret().await;
    let mut contexts = vec![];
    for version in 1..=2 {
        contexts.push(ctx(ApiKey::CreateDelegationToken, version));
        let mut ssl = ctx(ApiKey::CreateDelegationToken, version);
        ssl.security_protocol = SecurityProtocol::Ssl;
        contexts.push(ssl);
        let mut token = sasl(ApiKey::CreateDelegationToken, version, "alice");
        token.principal.token_authenticated = true;
        contexts.push(token);
    }
    for c in contexts {
        let v = c.api_version;
        let created =
            create_delegation_token::handle(&broker, &c, CreateDelegationTokenRequest::default())
                .await;
        assert_encodes(&created, v);
        assert_eq!(created.error_code, NOT_ALLOWED);
        assert!(created.hmac.is_empty());
        assert_eq!(created.max_timestamp_ms, -1);
        let renewed =
            renew_delegation_token::handle(&broker, &c, RenewDelegationTokenRequest::default())
                .await;
        assert_eq!(
            (renewed.error_code, renewed.expiry_timestamp_ms),
            (NOT_ALLOWED, -1)
        );
        let expired =
            expire_delegation_token::handle(&broker, &c, ExpireDelegationTokenRequest::default())
                .await;
        assert_eq!(
            (expired.error_code, expired.expiry_timestamp_ms),
            (NOT_ALLOWED, -1)
        );
        let described = describe_delegation_token::handle(
            &broker,
            &c,
            DescribeDelegationTokenRequest::default(),
        )
        .await;
        assert_eq!(described.error_code, NOT_ALLOWED);
    }
}

#[tokio::test]
async fn without_the_secret_key_every_api_answers_auth_disabled() {
    let broker = test_broker().await;
    let c = sasl(ApiKey::CreateDelegationToken, 3, "alice");
    let created =
        create_delegation_token::handle(&broker, &c, CreateDelegationTokenRequest::default()).await;
    assert_encodes(&created, 3);
    assert_eq!(created.error_code, DISABLED);
    assert_eq!(created.max_timestamp_ms, 0, "a controller refusal");
    assert_eq!(created.principal_name.as_str(), "alice");
    assert_eq!(created.token_requester_principal_name.as_str(), "alice");
    let renewed =
        renew_delegation_token::handle(&broker, &c, RenewDelegationTokenRequest::default()).await;
    assert_eq!(renewed.error_code, DISABLED);
    let expired =
        expire_delegation_token::handle(&broker, &c, ExpireDelegationTokenRequest::default()).await;
    assert_eq!(expired.error_code, DISABLED);
    let described =
        describe_delegation_token::handle(&broker, &c, DescribeDelegationTokenRequest::default())
            .await;
    assert_eq!(described.error_code, DISABLED);
}

#[tokio::test]
async fn create_describe_renew_expire_at_every_version() {
    let broker = with_secret().await;
    for version in 1..=3i16 {
        let create = CreateDelegationTokenRequest::default()
            .with_renewers(vec![renewer("bob")])
            .with_max_lifetime_ms(-1);
        let created = create_delegation_token::handle(
            &broker,
            &sasl(ApiKey::CreateDelegationToken, version, "alice"),
            create,
        )
        .await;
        assert_encodes(&created, version);
        assert_eq!(created.error_code, 0, "v{version}");
        assert_eq!(created.principal_name.as_str(), "alice");
        assert_eq!(created.hmac.len(), 64);
        assert_eq!(
            created.expiry_timestamp_ms - created.issue_timestamp_ms,
            86_400_000
        );
        assert_eq!(
            created.max_timestamp_ms - created.issue_timestamp_ms,
            7 * 86_400_000
        );

        let describe_version = version;
        let described = describe_delegation_token::handle(
            &broker,
            &sasl(ApiKey::DescribeDelegationToken, describe_version, "bob"),
            // Null owners: every token (an empty list would ask for none).
            DescribeDelegationTokenRequest::default().with_owners(None),
        )
        .await;
        assert_encodes(&described, describe_version);
        let mine = described
            .tokens
            .iter()
            .find(|t| t.token_id == created.token_id)
            .expect("bob, a renewer, sees the token");
        assert_eq!(mine.hmac, created.hmac);
        assert_eq!(mine.principal_name.as_str(), "alice");
        assert_eq!(mine.renewers[0].principal_name.as_str(), "bob");
        if version >= 3 {
            assert_eq!(mine.token_requester_principal_name.as_str(), "alice");
        }
        let strangers = describe_delegation_token::handle(
            &broker,
            &sasl(ApiKey::DescribeDelegationToken, describe_version, "carol"),
            DescribeDelegationTokenRequest::default().with_owners(None),
        )
        .await;
        assert!(strangers.tokens.is_empty());

        let renew_version = version.min(2);
        let renewed = renew_delegation_token::handle(
            &broker,
            &sasl(ApiKey::RenewDelegationToken, renew_version, "carol"),
            RenewDelegationTokenRequest::default().with_hmac(created.hmac.clone()),
        )
        .await;
        assert_encodes(&renewed, renew_version);
        assert_eq!(
            renewed.error_code,
            ResponseError::DelegationTokenOwnerMismatch.code()
        );
        let renewed = renew_delegation_token::handle(
            &broker,
            &sasl(ApiKey::RenewDelegationToken, renew_version, "bob"),
            RenewDelegationTokenRequest::default()
                .with_hmac(created.hmac.clone())
                .with_renew_period_ms(3_600_000),
        )
        .await;
        assert_eq!(renewed.error_code, 0);
        assert!(renewed.expiry_timestamp_ms >= created.issue_timestamp_ms + 3_600_000);

        let expired = expire_delegation_token::handle(
            &broker,
            &sasl(ApiKey::ExpireDelegationToken, renew_version, "alice"),
            ExpireDelegationTokenRequest::default()
                .with_hmac(created.hmac.clone())
                .with_expiry_time_period_ms(-1),
        )
        .await;
        assert_encodes(&expired, renew_version);
        assert_eq!((expired.error_code, expired.expiry_timestamp_ms), (0, -1));
        let gone = renew_delegation_token::handle(
            &broker,
            &sasl(ApiKey::RenewDelegationToken, renew_version, "alice"),
            RenewDelegationTokenRequest::default().with_hmac(created.hmac.clone()),
        )
        .await;
        assert_eq!(
            gone.error_code,
            ResponseError::DelegationTokenNotFound.code()
        );
    }
}

#[tokio::test]
async fn v3_creates_for_another_owner_and_refuses_non_user_renewers() {
    let broker = with_secret().await;
    let c = sasl(ApiKey::CreateDelegationToken, 3, "admin");
    let created = create_delegation_token::handle(
        &broker,
        &c,
        CreateDelegationTokenRequest::default()
            .with_owner_principal_type(Some(StrBytes::from_static_str("User")))
            .with_owner_principal_name(Some(StrBytes::from_static_str("alice"))),
    )
    .await;
    assert_eq!(created.error_code, 0);
    assert_eq!(created.principal_name.as_str(), "alice");
    assert_eq!(created.token_requester_principal_name.as_str(), "admin");
    // The owner sees it; the requester, neither owner nor renewer, does not.
    let owners = Some(vec![DescribeDelegationTokenOwner::default()
        .with_principal_type(StrBytes::from_static_str("User"))
        .with_principal_name(StrBytes::from_static_str("alice"))]);
    for (user, expected) in [("alice", 1), ("admin", 0)] {
        let described = describe_delegation_token::handle(
            &broker,
            &sasl(ApiKey::DescribeDelegationToken, 3, user),
            DescribeDelegationTokenRequest::default().with_owners(owners.clone()),
        )
        .await;
        assert_eq!(described.tokens.len(), expected, "{user}");
    }

    let group_renewer = CreatableRenewers::default()
        .with_principal_type(StrBytes::from_static_str("Group"))
        .with_principal_name(StrBytes::from_static_str("ops"));
    let refused = create_delegation_token::handle(
        &broker,
        &c,
        CreateDelegationTokenRequest::default().with_renewers(vec![group_renewer]),
    )
    .await;
    assert_eq!(
        refused.error_code,
        ResponseError::InvalidPrincipalType.code()
    );
}

#[tokio::test]
async fn describe_configs_never_shows_the_secret_key() {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

    use super::describe_configs::{self, RESOURCE_BROKER};

    let broker = with_secret().await;
    let id = broker.node_id().to_string();
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_BROKER)
            .with_resource_name(StrBytes::from(id))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                "delegation.token.secret.key",
            )]))])
        .with_include_synonyms(true);
    let response =
        describe_configs::handle(&broker, &ctx(ApiKey::DescribeConfigs, 4), request).await;
    let config = &response.results[0].configs[0];
    assert_eq!(config.name.as_str(), "delegation.token.secret.key");
    assert!(config.is_sensitive);
    assert_eq!(config.value, None);
    assert!(config.synonyms.iter().all(|s| s.value.is_none()));
    let mut encoded = bytes::BytesMut::new();
    kafka_protocol::protocol::Encodable::encode(&response, &mut encoded, 4).unwrap();
    let needle = b"s3cret";
    assert!(!encoded.windows(needle.len()).any(|w| w == needle));
}
