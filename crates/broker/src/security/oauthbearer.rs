//! SASL/OAUTHBEARER (RFC 7628, KIP-255, KIP-768), the server side.
//!
//! The client's one message is `n,[a=authzid],` then `\x01`-separated
//! `key=value` pairs ending in `\x01\x01`: `auth=Bearer <token>` and the
//! client's SASL extensions (KIP-342). The token is a JWT, checked by the
//! configured [`OAuthBearerValidator`]. A good token completes the exchange
//! as `User:<subject>`, with the session ending no later than the token's
//! `exp`. A bad one is answered, as RFC 7628 section 3.2.2 and Kafka's
//! `OAuthBearerSaslServer` do, with the JSON error challenge
//! `{"status":"invalid_token"}`; the client acknowledges it with `\x01`,
//! and the exchange then fails with SASL_AUTHENTICATION_FAILED.
//!
//! Which tokens are good is configured with Kafka's names:
//! `sasl.oauthbearer.jwks.endpoint.url` (a `file://` URL: the keys are read
//! once, at start-up), `sasl.oauthbearer.expected.issuer`,
//! `sasl.oauthbearer.expected.audience`, `sasl.oauthbearer.clock.skew.seconds`,
//! `sasl.oauthbearer.sub.claim.name` and `sasl.oauthbearer.scope.claim.name`.
//! Unsigned tokens (Kafka's unsecured validator) are taken only when
//! `sasl.server.callback.handler.class` names that validator's class,
//! [`UNSECURED_VALIDATOR_CLASS`]: Kafka falls back to it when nothing is
//! configured, Fjord never does.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use kafka_protocol::protocol::StrBytes;

use super::jwt::{self, ClaimRules, Jwks, Verification};
use super::{SaslFailure, SaslServer, SaslStep};
use crate::configs::StaticConfigs;
use crate::groups::group::now_ms;
use crate::request_context::Principal;

pub const MECHANISM: &str = "OAUTHBEARER";

/// Kafka's JWKS-checking validator, the one `sasl.oauthbearer.jwks.endpoint.url` configures.
pub const JWKS_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// Kafka's validator of unsigned (`alg: none`) tokens, for development.
pub const UNSECURED_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

const JWKS_URL: &str = "sasl.oauthbearer.jwks.endpoint.url";
const CALLBACK_CLASS: &str = "sasl.server.callback.handler.class";

/// The broker configs this module honours.
pub const CONFIG_NAMES: &[&str] = &[
    JWKS_URL,
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.scope.claim.name",
];

/// The error challenge RFC 7628 section 3.2.2 defines, as Kafka words it
/// for a token its validator refused.
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// Kafka's answer to a client message that is not OAUTHBEARER's: the
/// generic text of `SaslServerAuthenticator` for a `SaslException`.
const INVALID_MESSAGE: &str = "Authentication failed during authentication due to invalid \
                               credentials with SASL mechanism OAUTHBEARER";

/// The client's acknowledgement of an error challenge (RFC 7628 `%x01`).
const KVSEP: u8 = 0x01;

/// Decides which tokens are good. Built once at start-up and shared by
/// every exchange.
#[derive(Debug, Clone)]
pub struct OAuthBearerValidator {
    verification: Verification,
    rules: ClaimRules,
}

impl OAuthBearerValidator {
    pub fn new(verification: Verification, rules: ClaimRules) -> Self {
        OAuthBearerValidator {
            verification,
            rules,
        }
    }

    /// The validator the configs describe, or `None` when they describe
    /// none (neither a JWKS URL nor the unsecured validator's class). The
    /// JWKS file is read here: an unreadable one stops start-up, naming the
    /// config.
    pub fn from_statics(statics: &StaticConfigs) -> Result<Option<Self>, String> {
        let value = |name: &str| statics.effective(name);
        let refuse = |name: &str, shown: &str, why: String| {
            format!("Invalid value {shown} for configuration {name}: {why}")
        };
        let class = value(CALLBACK_CLASS);
        let unsecured = class.as_deref() == Some(UNSECURED_VALIDATOR_CLASS);
        let verification = match (value(JWKS_URL), unsecured) {
            (Some(url), true) => {
                return Err(refuse(
                    CALLBACK_CLASS,
                    UNSECURED_VALIDATOR_CLASS,
                    format!("{JWKS_URL} is set too ({url}): choose signed or unsigned tokens"),
                ))
            }
            (Some(url), false) => {
                let path = file_url_path(&url).ok_or_else(|| {
                    refuse(
                        JWKS_URL,
                        &url,
                        "Fjord reads a JWKS from a file:// URL only".into(),
                    )
                })?;
                let json = std::fs::read(path)
                    .map_err(|e| refuse(JWKS_URL, &url, format!("cannot read {path}: {e}")))?;
                let jwks = Jwks::parse(&json).map_err(|e| refuse(JWKS_URL, &url, e.to_string()))?;
                Verification::Jwks(jwks)
            }
            (None, true) => Verification::Unsecured,
            (None, false) => return Ok(None),
        };
        let skew_name = "sasl.oauthbearer.clock.skew.seconds";
        let skew_seconds = match value(skew_name) {
            None => 30,
            Some(shown) => shown
                .parse::<i64>()
                .map_err(|_| refuse(skew_name, &shown, "Not a number of type INT".into()))?,
        };
        let defaults = ClaimRules::default();
        let rules = ClaimRules {
            issuer: value("sasl.oauthbearer.expected.issuer"),
            audiences: value("sasl.oauthbearer.expected.audience")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            clock_skew_ms: skew_seconds.max(0).saturating_mul(1000),
            sub_claim: value("sasl.oauthbearer.sub.claim.name").unwrap_or(defaults.sub_claim),
            scope_claim: value("sasl.oauthbearer.scope.claim.name").unwrap_or(defaults.scope_claim),
        };
        Ok(Some(OAuthBearerValidator::new(verification, rules)))
    }

    /// A server for one exchange.
    pub fn server(self: &Arc<Self>) -> OAuthBearerServer {
        OAuthBearerServer {
            validator: Arc::clone(self),
            state: State::Initial,
        }
    }

    pub fn validate(&self, token: &str, now_ms: i64) -> Result<jwt::ValidToken, jwt::JwtError> {
        jwt::validate(token, &self.verification, &self.rules, now_ms)
    }
}

/// The path of a `file://` URL (`file:///p`, `file://localhost/p`, `file:/p`).
fn file_url_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("file:")?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path
            .strip_prefix("localhost")
            .unwrap_or(authority_and_path),
        None => rest,
    };
    path.starts_with('/').then_some(path)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Initial,
    /// The error challenge was sent; only the client's `%x01` may follow.
    ErrorSent,
    Done,
}

/// One OAUTHBEARER exchange.
pub struct OAuthBearerServer {
    validator: Arc<OAuthBearerValidator>,
    state: State,
}

/// The client's first message, parsed.
#[derive(Debug, PartialEq, Eq)]
struct ClientFirst<'a> {
    authzid: Option<String>,
    token: &'a str,
    /// KIP-342 SASL extensions. Kafka's validators accept every extension
    /// the client sends; so does Fjord, and nothing reads them yet.
    extensions: Vec<(&'a str, &'a str)>,
}

impl SaslServer for OAuthBearerServer {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn step(&mut self, client_message: &[u8]) -> Result<SaslStep, SaslFailure> {
        match self.state {
            State::Initial => {}
            State::ErrorSent => {
                self.state = State::Done;
                // RFC 7628: the client answers the error with %x01 alone.
                // Kafka then fails with the error it sent; anything else is
                // not the exchange RFC 7628 allows, and fails the same way
                // rather than letting a client try another token in it.
                return Err(SaslFailure::authentication_failed(
                    if client_message == [KVSEP] {
                        INVALID_TOKEN
                    } else {
                        INVALID_MESSAGE
                    },
                ));
            }
            State::Done => {
                return Err(SaslFailure::illegal_state(
                    "the OAUTHBEARER exchange is over",
                ))
            }
        }
        self.state = State::Done;
        let first = parse_client_first(client_message)
            .ok_or_else(|| SaslFailure::authentication_failed(INVALID_MESSAGE))?;
        let token = match self.validator.validate(first.token, now_ms()) {
            Ok(token) => token,
            Err(why) => {
                tracing::debug!("OAUTHBEARER token refused: {why}");
                self.state = State::ErrorSent;
                return Ok(SaslStep::Challenge(INVALID_TOKEN.as_bytes().to_vec()));
            }
        };
        if let Some(authzid) = &first.authzid {
            if *authzid != token.subject {
                return Err(SaslFailure::authentication_failed(format!(
                    "Authentication failed: Client requested an authorization id ({authzid}) \
                     that is different from the token's principal name ({})",
                    token.subject
                )));
            }
        }
        let expires =
            UNIX_EPOCH + Duration::from_millis(u64::try_from(token.expires_ms).unwrap_or(0));
        Ok(SaslStep::Complete {
            principal: Principal::user(StrBytes::from(token.subject)),
            final_message: Vec::new(),
            credential_expires: Some(expires),
        })
    }
}

/// RFC 7628's `client-resp` with Kafka's restrictions
/// (`OAuthBearerClientInitialResponse`): gs2 header `n,` (no channel
/// binding) with an optional `a=` authzid, keys of letters, values of
/// printable ASCII with space and tabs, `auth` present once as
/// `Bearer <b64token>`.
fn parse_client_first(message: &[u8]) -> Option<ClientFirst<'_>> {
    let text = std::str::from_utf8(message).ok()?;
    let rest = text.strip_prefix("n,")?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => None,
        a => Some(parse_saslname(a.strip_prefix("a=")?)?),
    };
    let pairs = rest.strip_prefix('\x01')?.strip_suffix("\x01\x01")?;
    let mut token = None;
    let mut extensions = Vec::new();
    // An empty list of pairs is "\x01\x01" after the header, which the
    // strip above leaves as "": Kafka requires `auth`, so that fails below.
    for pair in pairs.split('\x01').filter(|_| !pairs.is_empty()) {
        let (key, value) = pair.split_once('=')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        if value.is_empty()
            || !value
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            return None;
        }
        let duplicate =
            (key == "auth" && token.is_some()) || extensions.iter().any(|(k, _)| *k == key);
        if duplicate {
            return None;
        }
        if key == "auth" {
            token = Some(parse_bearer(value)?);
        } else {
            extensions.push((key, value));
        }
    }
    Some(ClientFirst {
        authzid,
        token: token?,
        extensions,
    })
}

/// `Bearer <b64token>`: the scheme case-insensitive, then spaces, then the
/// token of RFC 6750's b64token characters as Kafka takes them.
fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let token_ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (scheme.eq_ignore_ascii_case("bearer") && token_ok).then_some(token)
}

/// RFC 5801's saslname: no `,` or `=` except as the escapes `=2C` and
/// `=3D`, which stand for them.
fn parse_saslname(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find(['=', ',']) {
        out.push_str(&rest[..at]);
        let escaped = rest.get(at..at + 3)?;
        out.push(match escaped {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
#[path = "oauthbearer_tests.rs"]
mod tests;
