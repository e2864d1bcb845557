//! Delegation tokens (KIP-48), as Kafka's `DelegationTokenControlManager`
//! and `DelegationTokenManager` keep them: a token is an id, an owner, the
//! principal that asked for it, renewers, an expiry (moved on by renewals
//! up to `delegation.token.expiry.time.ms` at a time) and a maximum
//! lifetime (`delegation.token.max.lifetime.ms`). Its HMAC, the password a
//! client authenticates with over SCRAM (`tokenauth=true`), is
//! HMAC-SHA512 of the id keyed with `delegation.token.secret.key`; without
//! that key tokens are disabled and the APIs answer
//! DELEGATION_TOKEN_AUTH_DISABLED.
//!
//! Expired tokens cannot authenticate, be renewed or be expired
//! (DELEGATION_TOKEN_EXPIRED); they are removed every
//! `delegation.token.expiry.check.interval.ms`, as Kafka's controller
//! removes them.

use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fjord_storage::tokens::{StoredPrincipal, StoredToken, TokenStore};
use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;
use ring::hmac;
use tokio::sync::watch;

use crate::configs::StaticConfigs;
use crate::groups::group::now_ms;
use crate::request_context::{Principal, RequestContext, SecurityProtocol, USER_TYPE};

/// The broker configs this module honours.
pub const CONFIG_NAMES: &[&str] = &[
    SECRET_KEY,
    "delegation.token.max.lifetime.ms",
    "delegation.token.expiry.time.ms",
    "delegation.token.expiry.check.interval.ms",
];

const SECRET_KEY: &str = "delegation.token.secret.key";

/// Kafka's `DelegationTokenManager.ErrorTimestamp`: the expiry answered
/// with an error.
pub const ERROR_TIMESTAMP: i64 = -1;

/// Why a token request failed, each with Kafka's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("delegation tokens are disabled: delegation.token.secret.key is not set")]
    AuthDisabled,
    #[error("no such token")]
    NotFound,
    #[error("the token expired")]
    Expired,
    #[error("the principal is neither the token's owner nor a renewer")]
    OwnerMismatch,
    #[error("renewers must be of type User")]
    InvalidPrincipalType,
    #[error("the token store failed: {0}")]
    Storage(String),
}

impl TokenError {
    pub fn code(&self) -> i16 {
        let error = match self {
            TokenError::AuthDisabled => ResponseError::DelegationTokenAuthDisabled,
            TokenError::NotFound => ResponseError::DelegationTokenNotFound,
            TokenError::Expired => ResponseError::DelegationTokenExpired,
            TokenError::OwnerMismatch => ResponseError::DelegationTokenOwnerMismatch,
            TokenError::InvalidPrincipalType => ResponseError::InvalidPrincipalType,
            TokenError::Storage(_) => ResponseError::KafkaStorageError,
        };
        error.code()
    }
}

/// A token with its HMAC, as the APIs return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub info: StoredToken,
    pub hmac: Vec<u8>,
}

/// What authenticating with a token needs: the SCRAM password the token
/// stands for and whom it authenticates.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenCredential {
    /// The owner, marked token-authenticated.
    pub owner: Principal,
    /// Base64 of the HMAC: what the client gives as its SCRAM password
    /// (wiped when dropped).
    pub password: Zeroizing<String>,
    pub expiry_timestamp_ms: i64,
}

impl std::fmt::Debug for TokenCredential {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCredential")
            .field("owner", &self.owner)
            .field("expiry_timestamp_ms", &self.expiry_timestamp_ms)
            .finish_non_exhaustive()
    }
}

/// Kafka's rule (`KafkaApis.allowTokenRequests`): no token request over
/// PLAINTEXT, over SSL without a client certificate, or from a session
/// that itself authenticated with a token.
pub fn requests_allowed(ctx: &RequestContext) -> bool {
    let protocol = ctx.security_protocol;
    !(ctx.principal.token_authenticated
        || protocol == SecurityProtocol::Plaintext
        || (protocol == SecurityProtocol::Ssl && ctx.principal.is_anonymous()))
}

pub fn stored(principal: &Principal) -> StoredPrincipal {
    StoredPrincipal {
        principal_type: principal.principal_type.to_string(),
        name: principal.name.to_string(),
    }
}

pub fn principal(stored: &StoredPrincipal) -> Principal {
    Principal::new(
        StrBytes::from(stored.principal_type.clone()),
        StrBytes::from(stored.name.clone()),
    )
}

fn is(stored: &StoredPrincipal, principal: &Principal) -> bool {
    stored.principal_type == principal.principal_type.as_str()
        && stored.name == principal.name.as_str()
}

/// Kafka's `TokenInformation.ownerOrRenewer`.
fn owner_or_renewer(token: &StoredToken, principal: &Principal) -> bool {
    is(&token.owner, principal) || token.renewers.iter().any(|r| is(r, principal))
}

fn expired(token: &StoredToken, now_ms: i64) -> bool {
    token.max_timestamp_ms < now_ms || token.expiry_timestamp_ms < now_ms
}

/// The broker's delegation tokens.
pub struct DelegationTokens {
    /// None: tokens are disabled. Only the derived key is kept, not the
    /// configured text.
    secret: Option<hmac::Key>,
    max_lifetime_ms: i64,
    expiry_time_ms: i64,
    check_interval_ms: i64,
    store: Arc<dyn TokenStore>,
    /// One change at a time, so that a renewal and an expiry of one token
    /// cannot each write over the other.
    changes: tokio::sync::Mutex<()>,
}

impl DelegationTokens {
    pub fn from_statics(
        statics: &StaticConfigs,
        store: Arc<dyn TokenStore>,
    ) -> Result<Self, String> {
        let value = |name: &str| statics.effective(name);
        let number = |name: &str| -> Result<i64, String> {
            let shown = value(name).unwrap_or_default();
            shown
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|ms| *ms >= 1)
                .ok_or_else(|| {
                    format!(
                        "Invalid value {shown} for configuration {name}: Value must be at least 1"
                    )
                })
        };
        // Kafka: "If the key is not set or set to empty string, brokers
        // will disable the delegation token support."
        let secret = value(SECRET_KEY).map(|key| hmac::Key::new(hmac::HMAC_SHA512, key.as_bytes()));
        Ok(DelegationTokens {
            secret,
            max_lifetime_ms: number("delegation.token.max.lifetime.ms")?,
            expiry_time_ms: number("delegation.token.expiry.time.ms")?,
            check_interval_ms: number("delegation.token.expiry.check.interval.ms")?,
            store,
            changes: tokio::sync::Mutex::new(()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.secret.is_some()
    }

    fn key(&self) -> Result<&hmac::Key, TokenError> {
        self.secret.as_ref().ok_or(TokenError::AuthDisabled)
    }

    fn hmac(key: &hmac::Key, token_id: &str) -> Vec<u8> {
        hmac::sign(key, token_id.as_bytes()).as_ref().to_vec()
    }

    /// The token whose HMAC `hmac` is (compared in constant time).
    fn by_hmac(&self, key: &hmac::Key, hmac: &[u8]) -> Option<StoredToken> {
        self.store
            .tokens()
            .into_iter()
            .find(|token| hmac::verify(key, token.token_id.as_bytes(), hmac).is_ok())
    }

    /// CreateDelegationToken: a new token for `owner`, asked for by
    /// `requester`. `max_lifetime_ms` above 0 shortens the configured
    /// maximum lifetime; the first expiry is at most
    /// `delegation.token.expiry.time.ms` away.
    pub async fn create(
        &self,
        owner: &Principal,
        requester: &Principal,
        renewers: &[Principal],
        max_lifetime_ms: i64,
        now_ms: i64,
    ) -> Result<IssuedToken, TokenError> {
        // Kafka's controller checks the secret first, then the renewers.
        let key = self.key()?;
        if renewers
            .iter()
            .any(|r| r.principal_type.as_str() != USER_TYPE)
        {
            return Err(TokenError::InvalidPrincipalType);
        }
        let lifetime = if max_lifetime_ms > 0 {
            self.max_lifetime_ms.min(max_lifetime_ms)
        } else {
            self.max_lifetime_ms
        };
        let max_timestamp_ms = now_ms.saturating_add(lifetime);
        let info = StoredToken {
            // Kafka's token ids are random UUIDs in Kafka's text form.
            token_id: fjord_storage::kafka_uuid::to_kafka_string(uuid::Uuid::new_v4()),
            owner: stored(owner),
            requester: stored(requester),
            renewers: renewers.iter().map(stored).collect(),
            issue_timestamp_ms: now_ms,
            expiry_timestamp_ms: max_timestamp_ms.min(now_ms.saturating_add(self.expiry_time_ms)),
            max_timestamp_ms,
        };
        let hmac = Self::hmac(key, &info.token_id);
        let _change = self.changes.lock().await;
        self.store
            .put(info.clone())
            .await
            .map_err(|e| TokenError::Storage(e.to_string()))?;
        Ok(IssuedToken { info, hmac })
    }

    /// The token `hmac` names, if `principal` may renew or expire it.
    fn renewable(
        &self,
        principal: &Principal,
        hmac: &[u8],
        now_ms: i64,
    ) -> Result<StoredToken, TokenError> {
        let key = self.key()?;
        let token = self.by_hmac(key, hmac).ok_or(TokenError::NotFound)?;
        if expired(&token, now_ms) {
            return Err(TokenError::Expired);
        }
        if !owner_or_renewer(&token, principal) {
            return Err(TokenError::OwnerMismatch);
        }
        Ok(token)
    }

    /// RenewDelegationToken: moves the expiry to `renew_period_ms` from now
    /// (the configured expiry time when not above 0, and never past either
    /// it or the maximum lifetime). Returns the new expiry.
    pub async fn renew(
        &self,
        principal: &Principal,
        hmac: &[u8],
        renew_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, TokenError> {
        let _change = self.changes.lock().await;
        let token = self.renewable(principal, hmac, now_ms)?;
        let period = if renew_period_ms > 0 {
            self.expiry_time_ms.min(renew_period_ms)
        } else {
            self.expiry_time_ms
        };
        self.move_expiry(token, now_ms.saturating_add(period)).await
    }

    /// Stores `token` with its expiry at `at`, or at its maximum if that
    /// comes first; returns the expiry stored.
    async fn move_expiry(&self, mut token: StoredToken, at: i64) -> Result<i64, TokenError> {
        token.expiry_timestamp_ms = token.max_timestamp_ms.min(at);
        let expiry = token.expiry_timestamp_ms;
        self.store
            .put(token)
            .await
            .map_err(|e| TokenError::Storage(e.to_string()))?;
        Ok(expiry)
    }

    /// ExpireDelegationToken: a negative period removes the token at once
    /// (and, as Kafka, answers that period as the expiry); otherwise the
    /// expiry moves to `period` from now, never past the maximum lifetime.
    pub async fn expire(
        &self,
        principal: &Principal,
        hmac: &[u8],
        expiry_time_period_ms: i64,
        now_ms: i64,
    ) -> Result<i64, TokenError> {
        let _change = self.changes.lock().await;
        let token = self.renewable(principal, hmac, now_ms)?;
        if expiry_time_period_ms < 0 {
            self.store
                .remove(std::slice::from_ref(&token.token_id))
                .await
                .map_err(|e| TokenError::Storage(e.to_string()))?;
            return Ok(expiry_time_period_ms);
        }
        self.move_expiry(token, now_ms.saturating_add(expiry_time_period_ms))
            .await
    }

    /// DescribeDelegationToken: the tokens `principal` owns or may renew,
    /// among those whose owner or a renewer is in `owners` (every token
    /// when `owners` is None). Kafka also shows a token to whoever may
    /// DESCRIBE it (DelegationToken resource) or has DESCRIBE_TOKENS on its
    /// owner (User resource): with ACLs (issue 13) that check joins the
    /// owner-or-renewer test in the filter below. Expired tokens not yet
    /// removed are shown, as Kafka shows them.
    pub fn describe(
        &self,
        principal: &Principal,
        owners: Option<&[Principal]>,
    ) -> Result<Vec<IssuedToken>, TokenError> {
        self.describe_visible(principal, owners, |_| false)
    }

    /// As [`describe`](Self::describe), with the tokens `also_visible` lets
    /// the principal see besides its own (Kafka's ACLs: DelegationToken
    /// Describe on the token, User DescribeTokens on its owner).
    pub fn describe_visible(
        &self,
        principal: &Principal,
        owners: Option<&[Principal]>,
        also_visible: impl Fn(&StoredToken) -> bool,
    ) -> Result<Vec<IssuedToken>, TokenError> {
        let key = self.key()?;
        let wanted = |token: &StoredToken| {
            owners.is_none_or(|owners| owners.iter().any(|o| owner_or_renewer(token, o)))
        };
        Ok(self
            .store
            .tokens()
            .into_iter()
            .filter(|token| {
                wanted(token) && (owner_or_renewer(token, principal) || also_visible(token))
            })
            .map(|info| IssuedToken {
                hmac: Self::hmac(key, &info.token_id),
                info,
            })
            .collect())
    }

    /// What a SCRAM exchange with `tokenauth=true` and `token_id` as its
    /// user name checks the client against; None for an unknown or expired
    /// token, or when tokens are disabled.
    pub fn credential(&self, token_id: &str, now_ms: i64) -> Option<TokenCredential> {
        let key = self.secret.as_ref()?;
        let token = self
            .store
            .tokens()
            .into_iter()
            .find(|t| t.token_id == token_id)?;
        if expired(&token, now_ms) {
            return None;
        }
        let mut owner = principal(&token.owner);
        owner.token_authenticated = true;
        Some(TokenCredential {
            owner,
            password: Zeroizing::new(STANDARD.encode(Self::hmac(key, token_id))),
            expiry_timestamp_ms: token.expiry_timestamp_ms,
        })
    }

    /// Removes every expired token; returns how many.
    pub async fn remove_expired(&self, now_ms: i64) -> Result<usize, TokenError> {
        let _change = self.changes.lock().await;
        let gone: Vec<String> = self
            .store
            .tokens()
            .into_iter()
            .filter(|t| expired(t, now_ms))
            .map(|t| t.token_id)
            .collect();
        if !gone.is_empty() {
            self.store
                .remove(&gone)
                .await
                .map_err(|e| TokenError::Storage(e.to_string()))?;
        }
        Ok(gone.len())
    }

    /// Removes expired tokens every `delegation.token.expiry.check.interval.ms`
    /// until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.check_interval_ms.max(1) as u64);
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = timer.tick() => {
                    match self.remove_expired(now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("removed {n} expired delegation tokens"),
                        Err(e) => tracing::warn!("removing expired delegation tokens: {e}"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "delegation_tokens_tests.rs"]
mod tests;
