//! The SASL exchange over a real socket, with raw frames: what each rule
//! answers and whether the connection stays open.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use fjord_testkit::frames::request;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, CreateDelegationTokenRequest, CreateDelegationTokenResponse,
    ExpireDelegationTokenRequest, ExpireDelegationTokenResponse, MetadataRequest, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::BrokerConfig;
use crate::security::plain::{PasswordHash, MIN_ITERATIONS};
use crate::server::{self, RunningBroker};

pub(super) const DELAY_MS: u64 = 300;

pub(super) struct Sasl {
    pub(super) running: RunningBroker,
    _dir: tempfile::TempDir,
}

impl Sasl {
    pub(super) fn addr(&self) -> SocketAddr {
        self.running
            .listener_addr("SASL_PLAINTEXT")
            .expect("SASL listener")
    }

    pub(super) async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr()).await.expect("connects")
    }
}

/// A broker with a SASL_PLAINTEXT listener, users alice and bob, and `extra` configs.
pub(super) async fn broker(extra: &[(&str, &str)]) -> Sasl {
    let dir = tempfile::tempdir().expect("temp dir");
    let hash = |pw: &str| {
        PasswordHash::create(pw.as_bytes(), MIN_ITERATIONS)
            .expect("hash")
            .to_string()
    };
    let mut config = BrokerConfig::for_tests(dir.path())
        .with(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        )
        .with("sasl.plain.users.alice", hash("alice-pw"))
        .with("sasl.plain.users.bob", hash("bob-pw"))
        .with("connection.failed.authentication.delay.ms", DELAY_MS)
        .with(
            "delegation.token.secret.key",
            "0123456789abcdef0123456789abcdef",
        );
    for (name, value) in extra {
        config = config.with(name, value);
    }
    let running = server::start(config).await.expect("broker starts");
    Sasl { running, _dir: dir }
}

pub(super) async fn send(stream: &mut TcpStream, frame: Bytes) {
    stream.write_all(&frame).await.expect("request sent");
}

/// The next frame, or None when the broker closed the connection.
pub(super) async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let read = async {
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
        stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the broker answers or closes")
}

pub(super) async fn expect_closed(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
        .await
        .expect("the broker closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "expected a close: {read:?}");
}

pub(super) async fn answer<T: Decodable>(
    stream: &mut TcpStream,
    key: ApiKey,
    version: i16,
) -> Option<T> {
    let mut frame = read_frame(stream).await?;
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).expect("header");
    Some(T::decode(&mut frame, version).expect("body"))
}

pub(super) async fn handshake(
    stream: &mut TcpStream,
    version: i16,
    mechanism: &str,
) -> SaslHandshakeResponse {
    let body =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from(mechanism.to_string()));
    send(stream, request(ApiKey::SaslHandshake, version, 1, &body)).await;
    answer(stream, ApiKey::SaslHandshake, version)
        .await
        .expect("handshake answered")
}

pub(super) async fn authenticate(
    stream: &mut TcpStream,
    message: &[u8],
) -> Option<SaslAuthenticateResponse> {
    let body = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(message));
    send(stream, request(ApiKey::SaslAuthenticate, 2, 2, &body)).await;
    answer(stream, ApiKey::SaslAuthenticate, 2).await
}

pub(super) fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

pub(super) async fn login(
    stream: &mut TcpStream,
    user: &str,
    password: &str,
) -> SaslAuthenticateResponse {
    assert_eq!(handshake(stream, 1, "PLAIN").await.error_code, 0);
    authenticate(stream, &plain(user, password))
        .await
        .expect("authenticate answered")
}

/// Whether a Metadata request is answered (else the connection closed).
pub(super) async fn metadata_served(stream: &mut TcpStream) -> bool {
    send(
        stream,
        request(ApiKey::Metadata, 12, 9, &MetadataRequest::default()),
    )
    .await;
    read_frame(stream).await.is_some()
}

/// The principal the connection is served as, read back from the owner
/// of a delegation token it creates.
pub(super) async fn principal(stream: &mut TcpStream) -> String {
    let body = CreateDelegationTokenRequest::default().with_max_lifetime_ms(-1);
    send(stream, request(ApiKey::CreateDelegationToken, 2, 5, &body)).await;
    let token: CreateDelegationTokenResponse = answer(stream, ApiKey::CreateDelegationToken, 2)
        .await
        .expect("token created");
    assert_eq!(token.error_code, 0);
    format!("{}:{}", token.principal_type, token.principal_name)
}

#[tokio::test]
async fn plain_with_the_right_password_authenticates_as_the_user() {
    let sasl = broker(&[]).await;
    let mut stream = sasl.connect().await;
    let shaken = handshake(&mut stream, 1, "PLAIN").await;
    assert_eq!(shaken.error_code, 0);
    assert_eq!(shaken.mechanisms, [StrBytes::from_static_str("PLAIN")]);
    let done = authenticate(&mut stream, &plain("alice", "alice-pw"))
        .await
        .expect("answered");
    assert_eq!((done.error_code, done.session_lifetime_ms), (0, 0));
    assert!(done.auth_bytes.is_empty());
    assert_eq!(principal(&mut stream).await, "User:alice");
    assert!(metadata_served(&mut stream).await);
    // Another SaslAuthenticate now is answered, as Kafka's request handler
    // does, without closing.
    let again = authenticate(&mut stream, &plain("alice", "alice-pw")).await;
    assert_eq!(
        again.map(|a| a.error_code),
        Some(ResponseError::IllegalSaslState.code())
    );
    assert!(metadata_served(&mut stream).await);
}

#[tokio::test]
async fn requests_before_authentication_close_the_connection() {
    let sasl = broker(&[]).await;
    let mut stream = sasl.connect().await;
    assert!(!metadata_served(&mut stream).await);
    // Mid-exchange too.
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
    assert!(!metadata_served(&mut stream).await);
}

#[tokio::test]
async fn an_unknown_or_disabled_mechanism_is_refused_with_the_enabled_list() {
    let sasl = broker(&[]).await;
    for mechanism in ["GSSAPI", "OAUTHBEARER", "plain"] {
        let mut stream = sasl.connect().await;
        let started = Instant::now();
        let refused = handshake(&mut stream, 1, mechanism).await;
        assert!(started.elapsed() >= Duration::from_millis(DELAY_MS));
        assert_eq!(
            refused.error_code,
            ResponseError::UnsupportedSaslMechanism.code()
        );
        assert_eq!(refused.mechanisms, [StrBytes::from_static_str("PLAIN")]);
        expect_closed(&mut stream).await;
    }
}

#[tokio::test]
async fn a_wrong_password_fails_after_the_delay_and_closes() {
    let sasl = broker(&[]).await;
    for (user, password) in [("alice", "bob-pw"), ("carol", "alice-pw")] {
        let mut stream = sasl.connect().await;
        assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
        let started = Instant::now();
        let failed = authenticate(&mut stream, &plain(user, password))
            .await
            .expect("answered");
        assert!(started.elapsed() >= Duration::from_millis(DELAY_MS));
        assert_eq!(
            failed.error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
        assert_eq!(
            failed.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        expect_closed(&mut stream).await;
    }
}

#[tokio::test]
async fn authenticate_before_handshake_or_a_second_handshake_is_an_illegal_state() {
    let sasl = broker(&[]).await;
    let mut stream = sasl.connect().await;
    let refused = authenticate(&mut stream, &plain("alice", "alice-pw"))
        .await
        .expect("answered");
    assert_eq!(refused.error_code, ResponseError::IllegalSaslState.code());
    expect_closed(&mut stream).await;

    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
    let second = handshake(&mut stream, 1, "PLAIN").await;
    assert_eq!(second.error_code, ResponseError::IllegalSaslState.code());
    expect_closed(&mut stream).await;
}

/// Sends a raw token after a v0 handshake: a length, then the bytes.
pub(super) async fn raw_token(stream: &mut TcpStream, token: &[u8]) -> Option<Bytes> {
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&(token.len() as i32).to_be_bytes());
    frame.extend_from_slice(token);
    send(stream, frame.freeze()).await;
    read_frame(stream).await
}

#[tokio::test]
async fn a_v0_handshake_takes_unframed_tokens() {
    let sasl = broker(&[]).await;
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 0, "PLAIN").await.error_code, 0);
    // PLAIN's empty final message comes back as an empty frame.
    let reply = raw_token(&mut stream, &plain("bob", "bob-pw")).await;
    assert_eq!(reply.map(|r| r.remaining()), Some(0));
    assert_eq!(principal(&mut stream).await, "User:bob");
    assert!(metadata_served(&mut stream).await);

    // A wrong password gets nothing back, after the delay, and a close.
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 0, "PLAIN").await.error_code, 0);
    let started = Instant::now();
    assert_eq!(raw_token(&mut stream, &plain("bob", "nope")).await, None);
    assert!(started.elapsed() >= Duration::from_millis(DELAY_MS));
}

#[tokio::test]
async fn reauthentication_keeps_the_principal_and_returns_the_session_lifetime() {
    let sasl = broker(&[("connections.max.reauth.ms", "60000")]).await;
    let mut stream = sasl.connect().await;
    let first = login(&mut stream, "alice", "alice-pw").await;
    assert_eq!((first.error_code, first.session_lifetime_ms), (0, 60000));
    let again = login(&mut stream, "alice", "alice-pw").await;
    assert_eq!((again.error_code, again.session_lifetime_ms), (0, 60000));
    assert_eq!(principal(&mut stream).await, "User:alice");

    let other = login(&mut stream, "bob", "bob-pw").await;
    assert_eq!(
        other.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    assert_eq!(
        other.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.bob")
    );
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn an_expired_session_is_closed_unless_it_reauthenticates() {
    let sasl = broker(&[(
        "listener.name.sasl_plaintext.plain.connections.max.reauth.ms",
        "400",
    )])
    .await;
    let mut expires = sasl.connect().await;
    let mut renews = sasl.connect().await;
    assert_eq!(
        login(&mut expires, "alice", "alice-pw")
            .await
            .session_lifetime_ms,
        400
    );
    assert_eq!(login(&mut renews, "bob", "bob-pw").await.error_code, 0);
    assert!(metadata_served(&mut expires).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Past its lifetime a session may still re-authenticate...
    assert_eq!(login(&mut renews, "bob", "bob-pw").await.error_code, 0);
    assert!(metadata_served(&mut renews).await);
    // ...but anything else closes it.
    assert!(!metadata_served(&mut expires).await);
}

#[test]
fn the_session_lifetime_is_never_past_the_credentials_expiry() {
    use super::session_lifetime_ms;
    use std::time::SystemTime;
    let in_a_minute = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(session_lifetime_ms(0, None), 0);
    assert_eq!(session_lifetime_ms(5000, None), 5000);
    assert_eq!(session_lifetime_ms(5000, Some(in_a_minute)), 5000);
    let capped = session_lifetime_ms(3_600_000, Some(in_a_minute));
    assert!((59_000..=60_000).contains(&capped), "{capped}");
    let unbounded = session_lifetime_ms(0, Some(in_a_minute));
    assert!((59_000..=60_000).contains(&unbounded), "{unbounded}");
    let expired = SystemTime::now() - Duration::from_secs(1);
    assert_eq!(session_lifetime_ms(5000, Some(expired)), 0);
}

pub(super) const BOTH: [(&str, &str); 2] = [
    ("sasl.enabled.mechanisms", "PLAIN,OAUTHBEARER"),
    (
        "sasl.server.callback.handler.class",
        crate::security::oauthbearer::UNSECURED_VALIDATOR_CLASS,
    ),
];

pub(super) fn bearer(sub: &str, lifetime_s: i64) -> Vec<u8> {
    use fjord_testkit::jwt;
    let mut claims = jwt::claims(sub, "issuer", "audience");
    claims["exp"] = (jwt::now_s() + lifetime_s).into();
    format!("n,,\x01auth=Bearer {}\x01\x01", jwt::unsecured(&claims)).into_bytes()
}

#[tokio::test]
async fn an_oauthbearer_session_ends_no_later_than_its_token() {
    let mut configs = BOTH.to_vec();
    configs.push(("connections.max.reauth.ms", "3600000"));
    let sasl = broker(&configs).await;
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 1, "OAUTHBEARER").await.error_code, 0);
    let done = authenticate(&mut stream, &bearer("carol", 30))
        .await
        .expect("answered");
    assert_eq!(done.error_code, 0);
    assert!(
        (25_000..=30_000).contains(&done.session_lifetime_ms),
        "{}",
        done.session_lifetime_ms
    );
    assert_eq!(principal(&mut stream).await, "User:carol");
}

#[tokio::test]
async fn reauthentication_with_another_mechanism_fails_and_closes() {
    let sasl = broker(&BOTH).await;
    let mut stream = sasl.connect().await;
    assert_eq!(login(&mut stream, "alice", "alice-pw").await.error_code, 0);
    // Kafka answers the handshake, then fails the exchange.
    assert_eq!(handshake(&mut stream, 1, "OAUTHBEARER").await.error_code, 0);
    let failed = authenticate(&mut stream, &bearer("alice", 60))
        .await
        .expect("answered");
    assert_eq!(
        failed.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    assert_eq!(
        failed.error_message.as_deref(),
        Some(
            "SASL mechanism 'OAUTHBEARER' requested by client is not supported for \
             re-authentication of mechanism 'PLAIN'"
        )
    );
    expect_closed(&mut stream).await;
}

#[path = "exchange_scram_tests.rs"]
mod scram;

/// PBKDF2 runs on the blocking pool: while a PLAIN login against a costly
/// hash is checked, the runtime's only worker thread (a current-thread
/// runtime, shared by the broker and this test) keeps running other tasks.
#[tokio::test]
async fn a_costly_plain_hash_is_checked_off_the_worker_thread() {
    use std::sync::Arc;

    // Iterations that make one derivation take at least 300 ms here.
    let mut iterations = 100_000;
    let (hash, cost) = loop {
        let started = Instant::now();
        let hash = PasswordHash::create(b"carol-pw", iterations).expect("hash");
        let cost = started.elapsed();
        if cost >= Duration::from_millis(300) || iterations >= 100_000_000 {
            break (hash.to_string(), cost);
        }
        iterations *= 2;
    };
    let sasl = broker(&[("sasl.plain.users.carol", hash.as_str())]).await;

    // A ticker on the same thread: the longest it went without running.
    let longest = Arc::new(parking_lot::Mutex::new(Duration::ZERO));
    let ticker = tokio::spawn({
        let longest = Arc::clone(&longest);
        async move {
            loop {
                let before = Instant::now();
                tokio::time::sleep(Duration::from_millis(5)).await;
                let gap = before.elapsed();
                let mut longest = longest.lock();
                *longest = (*longest).max(gap);
            }
        }
    });
    let mut stream = sasl.connect().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    assert_eq!(login(&mut stream, "carol", "carol-pw").await.error_code, 0);
    let took = started.elapsed();
    // Time for the ticker to see the gap it was in, if any.
    tokio::time::sleep(Duration::from_millis(20)).await;
    ticker.abort();
    let longest = *longest.lock();
    assert!(
        took >= cost / 2,
        "the login took {took:?}, one derivation {cost:?}"
    );
    assert!(
        longest < cost / 3,
        "the worker thread stalled for {longest:?} while a derivation of {cost:?} ran"
    );
    assert_eq!(principal(&mut stream).await, "User:carol");
}
