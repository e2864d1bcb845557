//! SASL/PLAIN (RFC 4616), the server side, against users configured with
//! password hashes.
//!
//! A user is the broker config `sasl.plain.users.<name>` (Fjord's own, not
//! Kafka's: Kafka keeps PLAIN users in a JAAS file in plaintext) whose
//! value is `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>`, as
//! `fjord user hash` prints it. As Kafka's
//! `listener.name.<listener>.plain.sasl.jaas.config` gives one listener
//! users of its own, `listener.name.<listener>.sasl.plain.users.<name>` (or,
//! with Kafka's per-mechanism prefix,
//! `listener.name.<listener>.plain.sasl.plain.users.<name>`) does here: a
//! listener with any such user serves those users only, instead of the
//! broker-wide ones. The password is checked with PBKDF2-HMAC-
//! SHA256 and compared in constant time (ring's `pbkdf2::verify`); an
//! unknown user costs the same derivation as a known one, so that timing
//! does not tell which names exist.
//!
//! The client's one message is `[authzid] NUL authcid NUL password`. As
//! Kafka's `PlainSaslServer`, an authorization id other than the user name
//! is refused, and the exchange completes as `User:<authcid>`.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use kafka_protocol::protocol::StrBytes;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

use super::{SaslFailure, SaslServer, SaslStep};
use crate::configs::{split_listener_override, StaticConfigs};
use crate::request_context::Principal;

pub const MECHANISM: &str = "PLAIN";

/// The broker configs that each name one PLAIN user.
pub const USERS_PREFIX: &str = "sasl.plain.users.";

const SCHEME: &str = "pbkdf2-sha256";
const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const HASH_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// Below this a stolen config is too cheap to brute-force.
pub const MIN_ITERATIONS: u32 = 10_000;
/// What `fjord user hash` uses unless told otherwise.
pub const DEFAULT_ITERATIONS: u32 = 200_000;

/// Kafka's words for a wrong password or an unknown user: the same text,
/// so a client cannot tell which.
const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid username or password";

/// One user's stored PBKDF2 hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordHash({SCHEME}, {} iterations)", self.iterations)
    }
}

impl PasswordHash {
    /// Parses `pbkdf2-sha256$<iterations>$<salt-b64>$<hash-b64>`; the error
    /// says what is wrong without repeating the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.trim().split('$').collect();
        let [scheme, iterations, salt, hash] = parts[..] else {
            return Err(format!(
                "expected {SCHEME}$<iterations>$<salt-base64>$<hash-base64>, as `fjord user \
                 hash` prints it"
            ));
        };
        if scheme != SCHEME {
            return Err(format!(
                "unknown hash scheme {scheme:?}; Fjord takes {SCHEME}"
            ));
        }
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= MIN_ITERATIONS)
            .and_then(NonZeroU32::new)
            .ok_or_else(|| format!("the iteration count must be a number ≥ {MIN_ITERATIONS}"))?;
        let salt = BASE64
            .decode(salt)
            .map_err(|e| format!("the salt is not base64: {e}"))?;
        if salt.len() < SALT_LEN {
            return Err(format!("the salt must be at least {SALT_LEN} bytes"));
        }
        let hash = BASE64
            .decode(hash)
            .map_err(|e| format!("the hash is not base64: {e}"))?;
        if hash.len() != HASH_LEN {
            return Err(format!(
                "the hash must be {HASH_LEN} bytes (PBKDF2-HMAC-SHA256)"
            ));
        }
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// Hashes `password` with a fresh random salt.
    pub fn create(password: &[u8], iterations: u32) -> Result<Self, String> {
        let iterations = NonZeroU32::new(iterations)
            .filter(|n| n.get() >= MIN_ITERATIONS)
            .ok_or_else(|| format!("the iteration count must be at least {MIN_ITERATIONS}"))?;
        let mut salt = vec![0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| "the system's random number generator failed".to_string())?;
        let mut hash = vec![0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, iterations, &salt, password, &mut hash);
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }

    /// Whether `password` is this one, compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        pbkdf2::verify(ALGORITHM, self.iterations, &self.salt, password, &self.hash).is_ok()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}${}${}${}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(&self.hash)
        )
    }
}

/// The listener (None: broker-wide) and the user a PLAIN user config
/// names, or None when `name` is no such config: `sasl.plain.users.<user>`,
/// `listener.name.<listener>.sasl.plain.users.<user>` or
/// `listener.name.<listener>.plain.sasl.plain.users.<user>`.
pub fn user_config(name: &str) -> Option<(Option<&str>, &str)> {
    if let Some(user) = name.strip_prefix(USERS_PREFIX) {
        return Some((None, user));
    }
    let (listener, config) = split_listener_override(name)?;
    let config = match config.get(..MECHANISM_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(MECHANISM_PREFIX) => {
            &config[MECHANISM_PREFIX.len()..]
        }
        _ => config,
    };
    let user = config.strip_prefix(USERS_PREFIX)?;
    Some((Some(listener), user))
}

/// Kafka's per-mechanism prefix after `listener.name.<listener>.`.
const MECHANISM_PREFIX: &str = "plain.";

/// Checks one PLAIN user config ([`user_config`]) at start-up.
pub fn check_user_config(name: &str, value: &str) -> Result<(), String> {
    let user = user_config(name).map(|(_, user)| user).unwrap_or_default();
    if user.is_empty() {
        return Err(format!(
            "Invalid configuration {name}: name the user after {USERS_PREFIX}"
        ));
    }
    PasswordHash::parse(value)
        .map(|_| ())
        .map_err(|why| format!("Invalid value [hidden] for configuration {name}: {why}"))
}

/// Every configured PLAIN user, by name.
#[derive(Debug, Default)]
pub struct PlainUsers {
    users: BTreeMap<String, PasswordHash>,
    /// Checked against for an unknown user, so that it takes as long.
    decoy: Option<PasswordHash>,
}

impl PlainUsers {
    /// The broker-wide users (`sasl.plain.users.<name>`).
    pub fn from_statics(statics: &StaticConfigs) -> Result<Self, String> {
        Self::of(statics, |listener| listener.is_none())
    }

    /// Each listener's own users, by upper-cased listener name: the
    /// listeners with a `listener.name.<listener>.[plain.]sasl.plain.users.<name>`.
    pub fn per_listener(statics: &StaticConfigs) -> Result<BTreeMap<String, Self>, String> {
        let listeners: BTreeSet<String> = statics
            .values
            .keys()
            .filter_map(|name| user_config(name)?.0)
            .map(str::to_ascii_uppercase)
            .collect();
        listeners
            .into_iter()
            .map(|listener| {
                let users = Self::of(statics, |l| {
                    l.is_some_and(|l| l.eq_ignore_ascii_case(&listener))
                })?;
                Ok((listener, users))
            })
            .collect()
    }

    /// The users whose configs name a listener `wanted` takes.
    fn of(statics: &StaticConfigs, wanted: impl Fn(Option<&str>) -> bool) -> Result<Self, String> {
        let mut users = BTreeMap::new();
        for (name, value) in &statics.values {
            let Some((listener, user)) = user_config(name) else {
                continue;
            };
            if !wanted(listener) {
                continue;
            }
            check_user_config(name, value)?;
            if users
                .insert(user.to_string(), PasswordHash::parse(value)?)
                .is_some()
            {
                return Err(format!(
                    "Invalid configuration {name}: user {user} is configured twice for the \
                     listener"
                ));
            }
        }
        let decoy = users.values().next().map(|hash| PasswordHash {
            iterations: hash.iterations,
            salt: vec![0; SALT_LEN],
            hash: vec![0; HASH_LEN],
        });
        Ok(PlainUsers { users, decoy })
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn check(&self, user: &str, password: &[u8]) -> bool {
        match (self.users.get(user), &self.decoy) {
            (Some(hash), _) => hash.verify(password),
            (None, Some(decoy)) => {
                decoy.verify(password);
                false
            }
            (None, None) => false,
        }
    }

    pub fn server(self: &std::sync::Arc<Self>) -> PlainServer {
        PlainServer {
            users: std::sync::Arc::clone(self),
            done: false,
        }
    }
}

/// One PLAIN exchange: a single client message.
pub struct PlainServer {
    users: std::sync::Arc<PlainUsers>,
    done: bool,
}

impl SaslServer for PlainServer {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn step(&mut self, client_message: &[u8]) -> Result<SaslStep, SaslFailure> {
        if std::mem::replace(&mut self.done, true) {
            return Err(SaslFailure::illegal_state(
                "Authentication exchange has completed",
            ));
        }
        let (authzid, user, password) = split_message(client_message)?;
        if user.is_empty() {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: username not specified",
            ));
        }
        if password.is_empty() {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: password not specified",
            ));
        }
        if !self.users.check(user, password) {
            return Err(SaslFailure::authentication_failed(INVALID_CREDENTIALS));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: Client requested an authorization id that is \
                 different from username",
            ));
        }
        Ok(SaslStep::Complete {
            principal: Principal::user(StrBytes::from_string(user.to_string())),
            final_message: Vec::new(),
            credential_expires: None,
        })
    }
}

/// `authzid NUL authcid NUL passwd`, the names as UTF-8.
fn split_message(message: &[u8]) -> Result<(&str, &str, &[u8]), SaslFailure> {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = message.split(|b| *b == 0).count();
        return Err(SaslFailure::authentication_failed(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {count}"
        )));
    };
    let text = |bytes| {
        std::str::from_utf8(bytes).map_err(|_| {
            SaslFailure::authentication_failed("Invalid SASL/PLAIN response: names must be UTF-8")
        })
    };
    Ok((text(authzid)?, text(user)?, password))
}

#[cfg(test)]
#[path = "plain_tests.rs"]
mod tests;
