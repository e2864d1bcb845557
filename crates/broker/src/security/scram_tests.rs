use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_storage::tokens::LocalTokenStore;
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::configs::StaticConfigs;
use crate::groups::group::now_ms;
use crate::request_context::Principal;
use crate::security::delegation_tokens::DelegationTokens;
use crate::security::scram_credentials::{ScramCredential, TokenCredentials};
use crate::security::scram_test_client::Client;

/// Users from a map, each authenticating as `User:name`.
#[derive(Default)]
struct Users(HashMap<(ScramMechanism, String), ScramCredential>);

impl Users {
    fn with(
        mut self,
        mechanism: ScramMechanism,
        name: &str,
        password: &str,
        iterations: i32,
    ) -> Self {
        let credential =
            ScramCredential::from_password(mechanism, password.as_bytes(), iterations).unwrap();
        self.0.insert((mechanism, name.to_string()), credential);
        self
    }
}

impl ScramCredentialSource for Users {
    fn lookup(&self, mechanism: ScramMechanism, user: &str) -> Option<ScramIdentity> {
        Some(ScramIdentity {
            principal: Principal::user(StrBytes::from(user.to_string())),
            credential: self.0.get(&(mechanism, user.to_string()))?.clone(),
            expires: None,
        })
    }
}

fn server(mechanism: ScramMechanism, users: Users) -> ScramServer {
    ScramServer::new(mechanism, Arc::new(users), Arc::new(Users::default()))
}

fn challenge(step: Result<SaslStep, SaslFailure>) -> String {
    match step {
        Ok(SaslStep::Challenge(bytes)) => String::from_utf8(bytes).unwrap(),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn failure(step: Result<SaslStep, SaslFailure>) -> SaslFailure {
    match step {
        Err(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

const INVALID: &str = "Authentication failed during authentication due to invalid credentials \
                       with SASL mechanism";

#[test]
fn rfc_7677_test_vector() {
    let m = ScramMechanism::Sha256;
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let salted = m.salted_password(b"pencil", &salt, 4096);
    let credential = ScramCredential::from_salted_password(m, &salted, salt, 4096);
    let mut users = Users::default();
    users.0.insert((m, "user".into()), credential);
    let mut server = server(m, users).with_server_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");

    let first = challenge(server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    assert_eq!(
        first,
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let done = server.step(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
          p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    match done {
        Ok(SaslStep::Complete {
            principal,
            final_message,
            credential_expires,
        }) => {
            assert_eq!(
                principal,
                Principal::user(StrBytes::from_static_str("user"))
            );
            assert_eq!(
                final_message,
                b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
            );
            assert_eq!(credential_expires, None);
        }
        other => panic!("{other:?}"),
    }
    // The exchange is over: anything more is out of place.
    let after = failure(server.step(b"n,,n=user,r=x"));
    assert_eq!(after.error, ResponseError::IllegalSaslState);
}

/// A whole exchange; the server's final message is checked against what the
/// client computes.
fn exchange(server: &mut ScramServer, client: &Client) -> Result<SaslStep, SaslFailure> {
    let first = challenge(server.step(&client.first()));
    assert!(first.starts_with("r=clientnonce42"), "{first}");
    let (last, expected) = client.last(&first, None);
    let step = server.step(&last);
    if let Ok(SaslStep::Complete { final_message, .. }) = &step {
        assert_eq!(String::from_utf8_lossy(final_message), expected);
    }
    step
}

#[test]
fn sha_512_with_an_escaped_name_and_more_iterations() {
    let m = ScramMechanism::Sha512;
    let users = Users::default().with(m, "a,b=c", "secret", 8192);
    let mut server = server(m, users);
    let client = Client::new(m, "a,b=c", "secret", "");
    match exchange(&mut server, &client) {
        Ok(SaslStep::Complete { principal, .. }) => {
            assert_eq!(principal.name.as_str(), "a,b=c");
            assert!(!principal.token_authenticated);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_server_first_message_carries_the_stored_iterations_and_a_fresh_nonce() {
    let m = ScramMechanism::Sha256;
    let users = Users::default().with(m, "alice", "pw", 12_000);
    let client = Client::new(m, "alice", "pw", "");
    let one =
        challenge(server(m, Users::default().with(m, "alice", "pw", 12_000)).step(&client.first()));
    let two = challenge(server(m, users).step(&client.first()));
    assert!(one.ends_with(",i=12000"), "{one}");
    let nonce = |s: &str| s.split(',').next().unwrap().to_string();
    assert_ne!(nonce(&one), nonce(&two), "server nonces are random");
    assert!(nonce(&one).len() > "r=clientnonce42".len() + 16);
}

#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_message() {
    let m = ScramMechanism::Sha256;
    let mut wrong = server(m, Users::default().with(m, "alice", "right", 4096));
    let refused = failure(exchange(&mut wrong, &Client::new(m, "alice", "wrong", "")));
    assert_eq!(refused.error, ResponseError::SaslAuthenticationFailed);
    assert!(refused.message.starts_with(INVALID), "{}", refused.message);

    let mut unknown = server(m, Users::default().with(m, "alice", "right", 4096));
    let client = Client::new(m, "mallory", "right", "");
    let refused_unknown = failure(unknown.step(&client.first()));
    assert_eq!(refused_unknown, refused);
    // A user with only the other mechanism's credential is unknown here.
    let mut other = server(
        m,
        Users::default().with(ScramMechanism::Sha512, "alice", "right", 4096),
    );
    assert_eq!(
        failure(other.step(&Client::new(m, "alice", "right", "").first())),
        refused
    );
    // Failed attempts take no more messages.
    assert_eq!(
        failure(unknown.step(&client.first())).error,
        ResponseError::IllegalSaslState
    );
}

#[test]
fn a_wrong_nonce_or_channel_binding_or_proof_length_fails() {
    let m = ScramMechanism::Sha256;
    let users = || Users::default().with(m, "alice", "pw", 4096);
    let client = Client::new(m, "alice", "pw", "");

    let mut s = server(m, users());
    let first = challenge(s.step(&client.first()));
    let (last, _) = client.last(&first, Some("clientnonce42butnottheserverspart"));
    let refused = failure(s.step(&last));
    assert!(refused.message.contains("nonce"), "{}", refused.message);

    let mut s = server(m, users());
    let first = challenge(s.step(&client.first()));
    let (last, _) = client.last(&first, None);
    let other_binding = String::from_utf8(last).unwrap().replace("c=biws", "c=eSws");
    let refused = failure(s.step(other_binding.as_bytes()));
    assert!(
        refused.message.contains("channel binding"),
        "{}",
        refused.message
    );

    let mut s = server(m, users());
    let first = challenge(s.step(&client.first()));
    let (last, _) = client.last(&first, None);
    let short = String::from_utf8(last).unwrap();
    let short = format!("{},p=AAEC", short.rsplit_once(",p=").unwrap().0);
    assert!(failure(s.step(short.as_bytes()))
        .message
        .starts_with(INVALID));
}

#[test]
fn channel_binding_is_refused_and_authzid_must_be_the_user() {
    let m = ScramMechanism::Sha256;
    let users = || Users::default().with(m, "alice", "pw", 4096);
    let refused = failure(server(m, users()).step(b"p=tls-server-end-point,,n=alice,r=abc"));
    assert_eq!(refused.error, ResponseError::SaslAuthenticationFailed);
    assert!(refused.message.contains("channel binding is not supported"));

    let refused = failure(server(m, users()).step(b"n,a=bob,n=alice,r=abc"));
    assert!(
        refused.message.contains("authorization id"),
        "{}",
        refused.message
    );

    // `y` (client could bind, thinks we cannot) and a matching authzid work,
    // with the final message repeating that header.
    let mut client = Client::new(m, "alice", "pw", "");
    client.gs2_header = "y,a=alice,".to_string();
    assert!(matches!(
        exchange(&mut server(m, users()), &client),
        Ok(SaslStep::Complete { .. })
    ));
}

#[test]
fn credentials_below_the_minimum_iterations_are_refused() {
    let m = ScramMechanism::Sha256;
    let users = Users::default().with(m, "alice", "pw", 4095);
    let refused = failure(server(m, users).step(&Client::new(m, "alice", "pw", "").first()));
    assert!(refused.message.starts_with(INVALID), "{}", refused.message);
}

fn tokens(dir: &std::path::Path) -> Arc<DelegationTokens> {
    let mut statics = StaticConfigs::default();
    statics
        .values
        .insert("delegation.token.secret.key".into(), "s3cret".into());
    let store = Arc::new(LocalTokenStore::open(dir).unwrap());
    Arc::new(DelegationTokens::from_statics(&statics, store).unwrap())
}

#[tokio::test]
async fn a_delegation_token_authenticates_as_its_owner_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens(dir.path());
    let alice = Principal::user(StrBytes::from_static_str("alice"));
    let now = now_ms();
    let live = tokens.create(&alice, &alice, &[], 0, now).await.unwrap();
    let day = 86_400_000;
    let stale = tokens
        .create(&alice, &alice, &[], 0, now - 3 * day)
        .await
        .unwrap();
    let password = |hmac: &[u8]| STANDARD.encode(hmac);

    for m in ScramMechanism::ALL {
        let source = Arc::new(TokenCredentials(tokens.clone()));
        let mut s = ScramServer::new(m, Arc::new(Users::default()), source.clone());
        let client = Client::new(
            m,
            &live.info.token_id,
            &password(&live.hmac),
            ",tokenauth=true",
        );
        match exchange(&mut s, &client) {
            Ok(SaslStep::Complete {
                principal,
                credential_expires,
                ..
            }) => {
                assert_eq!(principal.name.as_str(), "alice");
                assert!(principal.token_authenticated);
                let expiry =
                    UNIX_EPOCH + Duration::from_millis(live.info.expiry_timestamp_ms as u64);
                assert_eq!(credential_expires, Some(expiry));
                assert!(expiry > SystemTime::now());
            }
            other => panic!("{other:?}"),
        }

        // Without the extension the token id is just an unknown user.
        let mut s = ScramServer::new(m, Arc::new(Users::default()), source.clone());
        let plain = Client::new(m, &live.info.token_id, &password(&live.hmac), "");
        assert!(failure(s.step(&plain.first())).message.starts_with(INVALID));

        // An expired token, and a wrong token password, fail alike.
        let mut s = ScramServer::new(m, Arc::new(Users::default()), source.clone());
        let expired = Client::new(
            m,
            &stale.info.token_id,
            &password(&stale.hmac),
            ",tokenauth=true",
        );
        assert!(failure(s.step(&expired.first()))
            .message
            .starts_with(INVALID));
        let mut s = ScramServer::new(m, Arc::new(Users::default()), source);
        let wrong = Client::new(m, &live.info.token_id, "not-the-hmac", ",tokenauth=true");
        assert!(failure(exchange(&mut s, &wrong))
            .message
            .starts_with(INVALID));
    }
}

#[test]
fn truncated_garbled_and_replayed_messages_fail_without_panicking() {
    let m = ScramMechanism::Sha256;
    // One credential for every attempt: deriving it is the slow part.
    let users: Arc<Users> = Arc::new(Users::default().with(m, "alice", "pw", 4096));
    let none: Arc<Users> = Arc::new(Users::default());
    let fresh = || ScramServer::new(m, users.clone(), none.clone());
    let client = Client::new(m, "alice", "pw", "");
    let first = client.first();
    // Every prefix that ends before the nonce's first character fails (a
    // shorter nonce is still a nonce), and no byte change panics.
    let nonce_at = first.windows(2).position(|w| w == b"r=").unwrap() + 2;
    for cut in 0..=nonce_at {
        assert!(fresh().step(&first[..cut]).is_err(), "prefix {cut}");
    }
    for at in 0..first.len() {
        for byte in [0u8, b',', b'=', 0xff] {
            let mut garbled = first.clone();
            garbled[at] = byte;
            // A change may still parse (another nonce); it must not panic.
            let _ = fresh().step(&garbled);
        }
    }
    // Every prefix of the final message, after a good first step.
    let mut probe = fresh();
    let server_first = challenge(probe.step(&first));
    let (last, _) = client.last(&server_first, None);
    for cut in 0..last.len() {
        let mut s = fresh();
        let _ = challenge(s.step(&first));
        assert!(s.step(&last[..cut]).is_err(), "final prefix {cut}");
    }
    // A final message replayed on another exchange carries the old nonce.
    let mut replay = fresh();
    let _ = challenge(replay.step(&first));
    let refused = failure(replay.step(&last));
    assert!(refused.message.contains("nonce"), "{}", refused.message);
    // Pseudo-random bytes in both steps.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2_000 {
        let len = (state % 64) as usize;
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(fresh().step(&noise).is_err());
        let mut s = fresh();
        let _ = challenge(s.step(&first));
        assert!(s.step(&noise).is_err());
    }
}
