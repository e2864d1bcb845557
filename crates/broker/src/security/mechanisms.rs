//! Which SASL mechanisms each listener answers, how long a session lasts,
//! and the one place a mechanism's name becomes its server
//! ([`SaslMechanisms::server`]): a new mechanism is a module of its own and
//! a line there and in [`MECHANISMS`].
//!
//! Configured with Kafka's names, each also given per listener as Kafka
//! reads them: `sasl.enabled.mechanisms` (or
//! `listener.name.<listener>.sasl.enabled.mechanisms`),
//! `connections.max.reauth.ms` (or
//! `listener.name.<listener>.<mechanism>.connections.max.reauth.ms`, then
//! `listener.name.<listener>.connections.max.reauth.ms`) and
//! `connection.failed.authentication.delay.ms` and `sasl.server.max.receive.size`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::oauthbearer::{self, OAuthBearerValidator};
use super::plain::{self, PlainUsers};
use super::scram::ScramServer;
use super::scram_credentials::{ScramCredentialSource, ScramMechanism};
use super::SaslServer;
use crate::configs::{ListenerConfig, StaticConfigs};

/// Every mechanism Fjord can serve, as `sasl.enabled.mechanisms` names them.
pub const MECHANISMS: &[&str] = &[
    plain::MECHANISM,
    ScramMechanism::Sha256.name(),
    ScramMechanism::Sha512.name(),
    oauthbearer::MECHANISM,
];

const ENABLED: &str = "sasl.enabled.mechanisms";
const MAX_REAUTH: &str = "connections.max.reauth.ms";
const FAILURE_DELAY: &str = "connection.failed.authentication.delay.ms";
const MAX_RECEIVE: &str = "sasl.server.max.receive.size";

/// The broker configs this module honours (`sasl.enabled.mechanisms` is
/// honoured for the mechanisms in [`MECHANISMS`] only: see `configs::support`).
pub const CONFIG_NAMES: &[&str] = &[MAX_REAUTH, FAILURE_DELAY, MAX_RECEIVE];

/// One SASL listener's mechanisms.
#[derive(Debug, Clone)]
struct ListenerMechanisms {
    listener: String,
    enabled: Vec<String>,
    /// `connections.max.reauth.ms` for each enabled mechanism, in order.
    max_reauth_ms: Vec<i64>,
}

/// Built once at start-up; shared by every connection's exchange.
#[derive(Debug, Default)]
pub struct SaslMechanisms {
    listeners: Vec<ListenerMechanisms>,
    /// The broker-wide PLAIN users, and the listeners' own (by upper-cased
    /// name), which replace them on their listener.
    plain: Arc<PlainUsers>,
    plain_by_listener: BTreeMap<String, Arc<PlainUsers>>,
    oauthbearer: Option<Arc<OAuthBearerValidator>>,
    /// Where SCRAM looks users and delegation tokens up ([`Self::with_scram`]).
    scram: Option<ScramSources>,
    /// How long a failed authentication waits before it is answered and
    /// its connection closed (Kafka's KIP-306), which slows down guessing.
    pub failed_authentication_delay: Duration,
    /// The largest frame read from a SASL client before it authenticates.
    pub max_receive_size: usize,
    /// How many mechanism steps may run on the blocking pool at once
    /// (`exchange::step`).
    steps: StepPermits,
}

/// Permits for mechanism steps on the blocking pool, one per core.
#[derive(Debug)]
struct StepPermits(Arc<Semaphore>);

impl Default for StepPermits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        StepPermits(Arc::new(Semaphore::new(cores)))
    }
}

/// SCRAM's two credential sources: stored users, and delegation tokens for
/// `tokenauth=true`.
#[derive(Clone)]
struct ScramSources {
    users: Arc<dyn ScramCredentialSource>,
    tokens: Arc<dyn ScramCredentialSource>,
}

impl std::fmt::Debug for ScramSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramSources")
    }
}

fn refusal(name: &str, value: &str, why: impl std::fmt::Display) -> String {
    format!("Invalid value {value} for configuration {name}: {why}")
}

impl SaslMechanisms {
    /// The mechanisms of every SASL listener in `listeners`. A mechanism
    /// enabled without what it needs (OAUTHBEARER without a validator)
    /// stops start-up, naming the config.
    pub fn from_statics(
        statics: &StaticConfigs,
        listeners: &[ListenerConfig],
        oauthbearer: Option<Arc<OAuthBearerValidator>>,
    ) -> Result<Self, String> {
        let plain = Arc::new(PlainUsers::from_statics(statics)?);
        let plain_by_listener = PlainUsers::per_listener(statics)?
            .into_iter()
            .map(|(listener, users)| (listener, Arc::new(users)))
            .collect();
        let delay_ms = statics.get_i64(FAILURE_DELAY, 100).max(0) as u64;
        let idle_ms = statics.get_i64("connections.max.idle.ms", 600_000);
        if idle_ms >= 0 && delay_ms as i64 >= idle_ms {
            // Kafka's own check: the delayed answer must go out before the
            // connection idles out.
            return Err(format!(
                "{FAILURE_DELAY}={delay_ms} should always be less than \
                 connections.max.idle.ms={idle_ms} to prevent failed authentication responses \
                 from timing out"
            ));
        }
        let max_receive_size = statics.get_i64(MAX_RECEIVE, 524_288).max(0) as usize;
        let mut mechanisms = SaslMechanisms {
            listeners: Vec::new(),
            plain,
            plain_by_listener,
            oauthbearer,
            scram: None,
            failed_authentication_delay: Duration::from_millis(delay_ms),
            max_receive_size,
            steps: StepPermits::default(),
        };
        for listener in listeners
            .iter()
            .filter(|l| l.security_protocol.authenticates())
        {
            let (name, value) = statics
                .for_listener(&listener.name, ENABLED)
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .unwrap_or_else(|| {
                    (
                        ENABLED.to_string(),
                        statics.effective(ENABLED).unwrap_or_default(),
                    )
                });
            let enabled: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            if enabled.is_empty() {
                return Err(refusal(
                    &name,
                    &value,
                    format!("listener {} needs a mechanism", listener.name),
                ));
            }
            let mut max_reauth_ms = Vec::new();
            for mechanism in &enabled {
                if !MECHANISMS.contains(&mechanism.as_str()) {
                    return Err(refusal(
                        &name,
                        &value,
                        format!("Fjord serves only {}", MECHANISMS.join(", ")),
                    ));
                }
                if mechanism == oauthbearer::MECHANISM && mechanisms.oauthbearer.is_none() {
                    return Err(refusal(
                        &name,
                        &value,
                        "OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url, or \
                         sasl.server.callback.handler.class naming Kafka's unsecured validator",
                    ));
                }
                if mechanism == plain::MECHANISM
                    && mechanisms.plain_users(&listener.name).is_empty()
                {
                    tracing::warn!(
                        "listener {} enables PLAIN but no {}<name> user is configured: every \
                         PLAIN login fails",
                        listener.name,
                        plain::USERS_PREFIX
                    );
                }
                max_reauth_ms.push(max_reauth(statics, &listener.name, mechanism)?);
            }
            mechanisms.listeners.push(ListenerMechanisms {
                listener: listener.name.clone(),
                enabled,
                max_reauth_ms,
            });
        }
        Ok(mechanisms)
    }

    /// SCRAM-SHA-256 and SCRAM-SHA-512 check `users` (plain user names)
    /// and `tokens` (token ids, with `tokenauth=true`); without this call
    /// they are enabled in name only and every attempt is refused.
    pub fn with_scram(
        mut self,
        users: Arc<dyn ScramCredentialSource>,
        tokens: Arc<dyn ScramCredentialSource>,
    ) -> Self {
        self.scram = Some(ScramSources { users, tokens });
        self
    }

    /// Permits for running mechanism steps (PBKDF2, signature checks) on
    /// the blocking pool.
    pub fn step_permits(&self) -> Arc<Semaphore> {
        Arc::clone(&self.steps.0)
    }

    /// The PLAIN users `listener` serves: its own if it has any, else the
    /// broker-wide ones.
    fn plain_users(&self, listener: &str) -> &Arc<PlainUsers> {
        self.plain_by_listener
            .get(&listener.to_ascii_uppercase())
            .unwrap_or(&self.plain)
    }

    fn listener(&self, listener: &str) -> Option<&ListenerMechanisms> {
        self.listeners
            .iter()
            .find(|l| l.listener.eq_ignore_ascii_case(listener))
    }

    /// The mechanisms `listener` answers, in configured order.
    pub fn enabled(&self, listener: &str) -> &[String] {
        self.listener(listener)
            .map(|l| l.enabled.as_slice())
            .unwrap_or_default()
    }

    /// `connections.max.reauth.ms` for `mechanism` on `listener`; 0 is off.
    pub fn max_reauth_ms(&self, listener: &str, mechanism: &str) -> i64 {
        self.listener(listener)
            .and_then(|l| {
                let at = l.enabled.iter().position(|m| m == mechanism)?;
                l.max_reauth_ms.get(at).copied()
            })
            .unwrap_or(0)
    }

    /// A server for one attempt with `mechanism`, if it is enabled on
    /// `listener`. The one place a mechanism's name becomes its server.
    pub fn server(&self, listener: &str, mechanism: &str) -> Option<Box<dyn SaslServer>> {
        if !self.enabled(listener).iter().any(|m| m == mechanism) {
            return None;
        }
        match mechanism {
            plain::MECHANISM => Some(Box::new(self.plain_users(listener).server())),
            oauthbearer::MECHANISM => self
                .oauthbearer
                .as_ref()
                .map(|v| Box::new(v.server()) as Box<dyn SaslServer>),
            name => {
                let mechanism = ScramMechanism::from_name(name)?;
                let sources = self.scram.as_ref()?;
                Some(Box::new(ScramServer::new(
                    mechanism,
                    Arc::clone(&sources.users),
                    Arc::clone(&sources.tokens),
                )))
            }
        }
    }
}

/// Kafka's lookup: per listener and mechanism, then per listener, then the
/// broker-wide value.
fn max_reauth(statics: &StaticConfigs, listener: &str, mechanism: &str) -> Result<i64, String> {
    let per_mechanism = format!("{}.{MAX_REAUTH}", mechanism.to_ascii_lowercase());
    let given = statics
        .for_listener(listener, &per_mechanism)
        .filter(|(name, _)| *name != per_mechanism)
        .or_else(|| statics.for_listener(listener, MAX_REAUTH));
    match given {
        None => Ok(0),
        Some((name, value)) => value
            .trim()
            .parse::<i64>()
            .map(|ms| ms.max(0))
            .map_err(|_| refusal(name, value, "Not a number of type LONG")),
    }
}

#[cfg(test)]
#[path = "mechanisms_tests.rs"]
mod tests;
