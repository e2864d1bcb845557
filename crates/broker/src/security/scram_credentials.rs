//! SCRAM's mechanisms, the derivations of RFC 5802 §3 on ring, and where a
//! SCRAM exchange finds the credential to check a client against: the
//! stored users (AlterUserScramCredentials, `fjord user add`) or, with the
//! `tokenauth=true` extension, a delegation token.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_storage::scram::{ScramStore, StoredScramCredential};
use kafka_protocol::protocol::StrBytes;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use zeroize::{Zeroize, Zeroizing};

use crate::groups::group::now_ms;
use crate::request_context::Principal;
use crate::security::delegation_tokens::DelegationTokens;

/// Kafka's `ScramMechanism.minIterations()`, the same for both mechanisms.
pub const MIN_ITERATIONS: i32 = 4096;
/// Kafka's `ScramControlManager.MAX_ITERATIONS`.
pub const MAX_ITERATIONS: i32 = 16384;

/// The SCRAM mechanisms Kafka knows, with their wire codes (the `mechanism`
/// of APIs 50/51: 0 is UNKNOWN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub const fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub const fn wire_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_wire_type(code: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.wire_type() == code)
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    /// The length of the hash, of keys and of proofs.
    pub fn output_len(self) -> usize {
        self.digest().output_len()
    }

    /// HMAC(key, message).
    pub fn hmac_of(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), message)
            .as_ref()
            .to_vec()
    }

    /// H(message).
    pub fn hash(self, message: &[u8]) -> Vec<u8> {
        digest::digest(self.digest(), message).as_ref().to_vec()
    }

    /// Hi(password, salt, iterations): the salted password. `iterations`
    /// below 1 is taken as 1 (callers refuse such counts earlier).
    /// Wiped when dropped: it stands for the password.
    pub fn salted_password(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: i32,
    ) -> Zeroizing<Vec<u8>> {
        let rounds = u32::try_from(iterations)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        let mut out = Zeroizing::new(vec![0u8; self.output_len()]);
        pbkdf2::derive(self.pbkdf2(), rounds, salt, password, &mut out);
        out
    }

    /// ClientKey = HMAC(SaltedPassword, "Client Key"), wiped when dropped.
    pub fn client_key(self, salted_password: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.hmac_of(salted_password, b"Client Key"))
    }
}

/// What the server keeps to check a client: never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A credential's keys are wiped when it goes: each exchange holds a copy
/// only while it runs.
impl Drop for ScramCredential {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl ScramCredential {
    /// From a salted password, as AlterUserScramCredentials carries it:
    /// StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: i32,
    ) -> Self {
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&mechanism.client_key(salted_password)),
            server_key: mechanism.hmac_of(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// From a password, with a fresh random salt (Kafka's
    /// `ScramFormatter.generateCredential`).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &[u8],
        iterations: i32,
    ) -> Result<Self, ring::error::Unspecified> {
        let salt = random_bytes(mechanism.output_len())?;
        let salted = mechanism.salted_password(password, &salt, iterations);
        Ok(Self::from_salted_password(
            mechanism, &salted, salt, iterations,
        ))
    }

    pub fn to_stored(&self) -> StoredScramCredential {
        StoredScramCredential {
            salt: self.salt.clone(),
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
            iterations: self.iterations,
        }
    }

    pub fn from_stored(stored: StoredScramCredential) -> Self {
        ScramCredential {
            salt: stored.salt,
            stored_key: stored.stored_key,
            server_key: stored.server_key,
            iterations: stored.iterations,
        }
    }
}

pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>, ring::error::Unspecified> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

/// A credential found for a SCRAM user name, with whom it authenticates.
#[derive(Debug, Clone)]
pub struct ScramIdentity {
    pub principal: Principal,
    pub credential: ScramCredential,
    /// When the credential stops being valid (a token's expiry).
    pub expires: Option<SystemTime>,
}

/// Where a SCRAM exchange looks a user name up.
pub trait ScramCredentialSource: Send + Sync {
    /// The credential `user` has for `mechanism`, if any.
    fn lookup(&self, mechanism: ScramMechanism, user: &str) -> Option<ScramIdentity>;
}

/// The stored SCRAM users: a name authenticates as `User:name`.
pub struct StoredUsers(pub Arc<dyn ScramStore>);

impl ScramCredentialSource for StoredUsers {
    fn lookup(&self, mechanism: ScramMechanism, user: &str) -> Option<ScramIdentity> {
        let stored = self.0.credential(user, mechanism.name())?;
        Some(ScramIdentity {
            principal: Principal::user(StrBytes::from(user.to_string())),
            credential: ScramCredential::from_stored(stored),
            expires: None,
        })
    }
}

/// Delegation tokens: the user name is a token id, and it authenticates as
/// the token's owner until the token expires. As Kafka's
/// `DelegationTokenCache` does, the credential is derived from the token's
/// password (the base64 of its HMAC) with the minimum iterations and a
/// random salt; it is derived afresh per exchange rather than cached, so a
/// renewed, expired or removed token is seen at once.
pub struct TokenCredentials(pub Arc<DelegationTokens>);

impl ScramCredentialSource for TokenCredentials {
    fn lookup(&self, mechanism: ScramMechanism, token_id: &str) -> Option<ScramIdentity> {
        let token = self.0.credential(token_id, now_ms())?;
        let credential =
            ScramCredential::from_password(mechanism, token.password.as_bytes(), MIN_ITERATIONS)
                .ok()?;
        let expiry_ms = u64::try_from(token.expiry_timestamp_ms).unwrap_or(0);
        Some(ScramIdentity {
            principal: token.owner.clone(),
            credential,
            expires: Some(UNIX_EPOCH + Duration::from_millis(expiry_ms)),
        })
    }
}

/// Compares in time that depends on the lengths only, so that a proof's
/// first wrong byte cannot be found by timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    difference == 0
}
