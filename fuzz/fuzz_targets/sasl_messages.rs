//! What a client sends during a SASL exchange, fed to the mechanisms'
//! servers as the exchange feeds them (one `step` per message, in order,
//! until one fails or completes): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (its
//! client-first and client-final parsers also on their own, since a fuzzed
//! final message rarely repeats the server's random nonce) and OAUTHBEARER
//! with unsigned tokens and with a JWKS.
//!
//! Input: one byte choosing the mechanism, then the client's messages
//! separated by `fjord_fuzz::SECTION_SEPARATOR`.
#![no_main]

use std::sync::{Arc, OnceLock};

use fjord_broker::request_context::Principal;
use fjord_broker::security::jwt::{ClaimRules, Jwks, Verification};
use fjord_broker::security::oauthbearer::OAuthBearerValidator;
use fjord_broker::security::plain::PlainUsers;
use fjord_broker::security::scram::ScramServer;
use fjord_broker::security::scram_credentials::{
    ScramCredential, ScramCredentialSource, ScramIdentity, ScramMechanism,
};
use fjord_broker::security::scram_messages::{ClientFinal, ClientFirst};
use fjord_broker::security::{SaslServer, SaslStep};
use fjord_fuzz::sections;
use kafka_protocol::protocol::StrBytes;
use libfuzzer_sys::fuzz_target;

/// A public P-256 key (no private key goes with it here): tokens naming
/// its `kid` reach the signature check, which then fails.
const JWKS: &str = r#"{"keys":[{"kty":"EC","kid":"fuzz","use":"sig","crv":"P-256",
  "x":"L1V8Ek8dwTMeiQNRsQqtlg8ceX7cbAzT_qMlNBDBjhs",
  "y":"QeCrexAO0j-xXfwCO6RgSf356zDQNqb3Eu1jIbcJWkw"}]}"#;

/// Every user name has one credential per mechanism (made once: PBKDF2
/// with 4096 iterations is too slow per input).
struct AnyUser;

impl ScramCredentialSource for AnyUser {
    fn lookup(&self, mechanism: ScramMechanism, user: &str) -> Option<ScramIdentity> {
        static CREDENTIALS: OnceLock<[ScramCredential; 2]> = OnceLock::new();
        let [sha256, sha512] = CREDENTIALS.get_or_init(|| {
            [ScramMechanism::Sha256, ScramMechanism::Sha512].map(|m| {
                ScramCredential::from_password(m, b"fuzz-password", 4096)
                    .expect("fuzz harness: no randomness for a salt")
            })
        });
        let credential = match mechanism {
            ScramMechanism::Sha256 => sha256,
            ScramMechanism::Sha512 => sha512,
        };
        Some(ScramIdentity {
            principal: Principal::user(StrBytes::from_string(user.to_string())),
            credential: credential.clone(),
            expires: None,
        })
    }
}

fn server(choice: u8) -> Box<dyn SaslServer> {
    match choice % 5 {
        0 => Box::new(Arc::new(PlainUsers::default()).server()),
        1 | 2 => {
            let mechanism = if choice % 5 == 1 {
                ScramMechanism::Sha256
            } else {
                ScramMechanism::Sha512
            };
            Box::new(ScramServer::new(
                mechanism,
                Arc::new(AnyUser),
                Arc::new(AnyUser),
            ))
        }
        3 => Box::new(
            Arc::new(OAuthBearerValidator::new(
                Verification::Unsecured,
                ClaimRules::default(),
            ))
            .server(),
        ),
        _ => {
            let jwks = Jwks::parse(JWKS.as_bytes()).expect("fuzz harness: the JWKS parses");
            Box::new(
                Arc::new(OAuthBearerValidator::new(
                    Verification::Jwks(jwks),
                    ClaimRules::default(),
                ))
                .server(),
            )
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let messages = sections(rest);
    if matches!(choice % 5, 1 | 2) {
        for message in &messages {
            if let Ok(first) = ClientFirst::parse(message) {
                let _ = first.token_authenticated();
            }
            let _ = ClientFinal::parse(message);
        }
    }
    let mut server = server(choice);
    for message in messages {
        match server.step(message) {
            Ok(SaslStep::Challenge(_)) => {}
            Ok(SaslStep::Complete { principal, .. }) => {
                assert!(!principal.name.is_empty(), "authenticated with no name");
                // A completed exchange takes no more messages.
                assert!(server.step(b"").is_err(), "a step after completion");
                break;
            }
            Err(_) => break,
        }
    }
});
