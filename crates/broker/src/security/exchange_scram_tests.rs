//! SCRAM through the SASL exchange over a real socket: a stored user, and a
//! delegation token with `tokenauth=true` until it is expired.

use base64::Engine;

use super::*;
use crate::security::scram_admin;
use crate::security::scram_credentials::ScramMechanism;
use crate::security::scram_test_client::Client as ScramClient;

const SCRAM_ENABLED: (&str, &str) = (
    "sasl.enabled.mechanisms",
    "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
);

/// A whole SCRAM exchange for `client` on `stream`: the final answer, or
/// the first one that failed.
async fn scram_login(
    stream: &mut TcpStream,
    mechanism: ScramMechanism,
    client: &ScramClient,
) -> SaslAuthenticateResponse {
    assert_eq!(handshake(stream, 1, mechanism.name()).await.error_code, 0);
    let first = authenticate(stream, &client.first())
        .await
        .expect("client-first answered");
    if first.error_code != 0 {
        return first;
    }
    let server_first = String::from_utf8(first.auth_bytes.to_vec()).expect("UTF-8");
    let (last, expected) = client.last(&server_first, None);
    let done = authenticate(stream, &last)
        .await
        .expect("client-final answered");
    if done.error_code == 0 {
        assert_eq!(String::from_utf8_lossy(&done.auth_bytes), expected);
    }
    done
}

#[tokio::test]
async fn a_scram_user_authenticates_and_a_wrong_password_is_closed() {
    let sasl = broker(&[SCRAM_ENABLED]).await;
    let store = sasl.running.broker().scram_credentials.clone();
    let upsertion = |user: &str, m: ScramMechanism| scram_admin::Upsertion {
        user: user.to_string(),
        mechanism: m.wire_type(),
        iterations: 4096,
        salt: b"salt".to_vec(),
        salted_password: m.salted_password(b"carol-pw", b"salt", 4096),
    };
    let stored = scram_admin::alter(
        store.as_ref(),
        vec![],
        vec![upsertion("carol", ScramMechanism::Sha512)],
    )
    .await;
    assert!(stored.iter().all(|(_, r)| r.is_ok()), "{stored:?}");

    let m = ScramMechanism::Sha512;
    let mut stream = sasl.connect().await;
    let ok = scram_login(
        &mut stream,
        m,
        &ScramClient::new(m, "carol", "carol-pw", ""),
    )
    .await;
    assert_eq!(ok.error_code, 0, "{:?}", ok.error_message);
    assert_eq!(principal(&mut stream).await, "User:carol");

    let mut stream = sasl.connect().await;
    let wrong = scram_login(&mut stream, m, &ScramClient::new(m, "carol", "nope", "")).await;
    assert_eq!(
        wrong.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn a_delegation_token_authenticates_over_scram_until_it_is_expired() {
    let sasl = broker(&[SCRAM_ENABLED]).await;
    let mut owner = sasl.connect().await;
    assert_eq!(login(&mut owner, "alice", "alice-pw").await.error_code, 0);
    let body = CreateDelegationTokenRequest::default();
    send(
        &mut owner,
        request(ApiKey::CreateDelegationToken, 2, 5, &body),
    )
    .await;
    let token: CreateDelegationTokenResponse = answer(&mut owner, ApiKey::CreateDelegationToken, 2)
        .await
        .expect("token created");
    assert_eq!(token.error_code, 0);
    let password = base64::engine::general_purpose::STANDARD.encode(&token.hmac);
    let client = |m| ScramClient::new(m, &token.token_id, &password, ",tokenauth=true");

    for m in ScramMechanism::ALL {
        let mut stream = sasl.connect().await;
        let done = scram_login(&mut stream, m, &client(m)).await;
        assert_eq!(done.error_code, 0, "{m:?}: {:?}", done.error_message);
        // The session ends when the token does (no connections.max.reauth.ms);
        // the broker counted from a moment before this one.
        let left = token.expiry_timestamp_ms - crate::groups::group::now_ms();
        assert!(
            (left - 1_000..=left + 60_000).contains(&done.session_lifetime_ms),
            "{} vs {left}",
            done.session_lifetime_ms
        );
        // Authenticated as the owner, marked token-authenticated: such a
        // session may not ask for tokens, as in Kafka.
        send(
            &mut stream,
            request(ApiKey::CreateDelegationToken, 2, 5, &body),
        )
        .await;
        let refused: CreateDelegationTokenResponse =
            answer(&mut stream, ApiKey::CreateDelegationToken, 2)
                .await
                .expect("answered");
        assert_eq!(
            refused.error_code,
            ResponseError::DelegationTokenRequestNotAllowed.code()
        );
    }

    let expire = ExpireDelegationTokenRequest::default()
        .with_hmac(token.hmac.clone())
        .with_expiry_time_period_ms(-1);
    send(
        &mut owner,
        request(ApiKey::ExpireDelegationToken, 2, 6, &expire),
    )
    .await;
    let expired: ExpireDelegationTokenResponse =
        answer(&mut owner, ApiKey::ExpireDelegationToken, 2)
            .await
            .expect("expired");
    assert_eq!(expired.error_code, 0);
    let mut stream = sasl.connect().await;
    let m = ScramMechanism::Sha256;
    let refused = scram_login(&mut stream, m, &client(m)).await;
    assert_eq!(
        refused.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    expect_closed(&mut stream).await;
}
