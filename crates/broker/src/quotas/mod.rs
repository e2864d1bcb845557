//! Client quotas (KIP-13, KIP-124, KIP-219, KIP-546, KIP-599, KIP-612): the
//! quotas stored per entity (DescribeClientQuotas, AlterClientQuotas) and
//! their enforcement.
//!
//! Enforcement is Kafka's: each request's bytes (or handler time, or
//! partition mutations, or new connection) are recorded on a windowed
//! measure; when the measure is over its quota, the broker answers at once
//! with `throttle_time_ms` set to how long the client must wait for the
//! measure to fall back under it, and reads nothing more from the
//! connection for that time (`connection.rs`). A throttled Fetch returns no
//! data, as Kafka's does, and its bytes do not count.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_storage::quotas::{FileQuotaStore, QuotaEntity, QuotaValues, StoredQuotas};
use kafka_protocol::error::ResponseError;
use parking_lot::{Mutex, RwLock};

use crate::configs::StaticConfigs;
use crate::request_context::RequestContext;

pub mod describe;
mod enforce;
pub mod entity;
mod hosts;
pub mod rate;
pub mod resolve;
pub mod response;

pub use enforce::MutationQuota;
use rate::{SampledRate, TokenBucket, Window};
use resolve::Sharers;

/// The broker configs quotas honour (Kafka's `QuotaConfig`).
pub const CONFIG_NAMES: &[&str] = &[
    "quota.window.num",
    "quota.window.size.seconds",
    "controller.quota.window.num",
    "controller.quota.window.size.seconds",
];

/// An error answered for a quota request, with its Kafka code.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnsupportedVersion(String),
    #[error("cannot store the client quotas: {0}")]
    Storage(String),
}

impl QuotaError {
    pub fn invalid(message: impl Into<String>) -> Self {
        QuotaError::InvalidRequest(message.into())
    }

    pub fn code(&self) -> i16 {
        match self {
            QuotaError::InvalidRequest(_) => ResponseError::InvalidRequest.code(),
            QuotaError::UnsupportedVersion(_) => ResponseError::UnsupportedVersion.code(),
            QuotaError::Storage(_) => ResponseError::KafkaStorageError.code(),
        }
    }
}

/// The measuring windows: client quotas' and controller mutations'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    pub client: Window,
    pub controller: Window,
}

impl QuotaSettings {
    /// Kafka's `QuotaConfig`: each count and size at least 1.
    pub fn from_statics(statics: &StaticConfigs) -> Result<Self, String> {
        let at_least_one = |name: &str, default: i64| {
            let value = statics.get_i64(name, default);
            if value < 1 || value > i64::from(i32::MAX) {
                return Err(format!("{name} must be between 1 and {}", i32::MAX));
            }
            Ok(value as u64)
        };
        let window = |num: &str, size: &str| -> Result<Window, String> {
            Ok(Window {
                samples: at_least_one(num, 11)? as usize,
                sample_ms: at_least_one(size, 1)? * 1000,
            })
        };
        Ok(QuotaSettings {
            client: window(CONFIG_NAMES[0], CONFIG_NAMES[1])?,
            controller: window(CONFIG_NAMES[2], CONFIG_NAMES[3])?,
        })
    }
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            client: Window::DEFAULT,
            controller: Window::DEFAULT,
        }
    }
}

/// One change a request asks for: set (`Some`) or remove (`None`) keys of
/// an entity.
#[derive(Debug, Clone)]
pub struct Alteration {
    pub entity: QuotaEntity,
    pub ops: Vec<(String, Option<f64>)>,
}

/// What one quota type measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Measure {
    Produce,
    Fetch,
    RequestTime,
    Mutations,
}

impl Measure {
    fn key(self) -> &'static str {
        match self {
            Measure::Produce => entity::PRODUCER_BYTE_RATE,
            Measure::Fetch => entity::CONSUMER_BYTE_RATE,
            Measure::RequestTime => entity::REQUEST_PERCENTAGE,
            Measure::Mutations => entity::CONTROLLER_MUTATION_RATE,
        }
    }
}

/// A quota found for a client: its bound and who shares its measure.
type Resolved = Option<(f64, Sharers)>;

/// An entity described, with its quotas.
pub type Described = (QuotaEntity, QuotaValues);

/// The quotas stored, and the measures taken against them.
pub struct ClientQuotas {
    store: FileQuotaStore,
    settings: QuotaSettings,
    current: RwLock<Arc<StoredQuotas>>,
    /// Each (user, client id)'s quota per measure, found once per change.
    resolved: Mutex<HashMap<(String, String, Measure), Resolved>>,
    rates: Mutex<HashMap<(Measure, Sharers), SampledRate>>,
    buckets: Mutex<HashMap<Sharers, TokenBucket>>,
    connections: Mutex<HashMap<IpAddr, SampledRate>>,
    /// Addresses of the IP entities named by host name.
    hosts: RwLock<Arc<hosts::Hosts>>,
    /// Times are ms since this, so that a wall-clock step changes no rate.
    epoch: Instant,
}

impl ClientQuotas {
    /// Opens the stored quotas (blocking: host-named IP entities are resolved).
    pub fn open(data_dir: &Path, settings: QuotaSettings) -> fjord_storage::Result<Self> {
        let store = FileQuotaStore::open(data_dir)?;
        let quotas = store.quotas();
        let hosts = RwLock::new(Arc::new(hosts::resolve_all(&quotas)));
        let current = RwLock::new(Arc::new(quotas));
        Ok(ClientQuotas {
            store,
            settings,
            current,
            resolved: Mutex::default(),
            rates: Mutex::default(),
            buckets: Mutex::default(),
            connections: Mutex::default(),
            hosts,
            epoch: Instant::now(),
        })
    }

    pub fn settings(&self) -> QuotaSettings {
        self.settings
    }

    /// Every entity's quotas as they stand.
    pub fn quotas(&self) -> Arc<StoredQuotas> {
        self.current.read().clone()
    }

    /// The entities a DescribeClientQuotas filter matches.
    pub fn describe(
        &self,
        components: &[describe::Component<'_>],
        strict: bool,
    ) -> Result<Vec<Described>, QuotaError> {
        let quotas = self.quotas();
        let found = describe::describe(&quotas, components, strict)?;
        Ok(found
            .into_iter()
            .map(|(entity, values)| (entity.clone(), values.clone()))
            .collect())
    }

    /// Applies AlterClientQuotas' changes (or only checks them): one result
    /// per entity, in the order first named. An entity with any bad key or
    /// value is left as it was, and so is an entity named twice; the others
    /// are stored together.
    pub async fn alter(
        &self,
        alterations: Vec<Alteration>,
        validate_only: bool,
    ) -> Vec<(QuotaEntity, Result<(), QuotaError>)> {
        let resolved = resolve_hosts(&alterations).await;
        let mut results: Vec<(QuotaEntity, Result<(), QuotaError>)> = Vec::new();
        let mut planned: Vec<(QuotaEntity, BTreeMap<String, Option<f64>>)> = Vec::new();
        for alteration in alterations {
            let entity = alteration.entity;
            if let Some((_, result)) = results.iter_mut().find(|(e, _)| *e == entity) {
                *result = Err(QuotaError::invalid(format!(
                    "Ignoring duplicate entity {}",
                    entity::describe(&entity)
                )));
                planned.retain(|(e, _)| *e != entity);
                continue;
            }
            match plan(&entity, alteration.ops, &resolved) {
                Ok(changes) => {
                    planned.push((entity.clone(), changes));
                    results.push((entity, Ok(())));
                }
                Err(e) => results.push((entity, Err(e))),
            }
        }
        if validate_only || planned.is_empty() {
            return results;
        }
        let stored = self
            .store
            .update(|quotas| {
                for (entity, changes) in &planned {
                    let values = quotas.entry(entity.clone()).or_default();
                    for (key, value) in changes {
                        match value {
                            Some(value) => values.insert(key.clone(), *value),
                            None => values.remove(key),
                        };
                    }
                }
            })
            .await;
        match stored {
            Ok(((), quotas)) => {
                let mut hosts = (**self.hosts.read()).clone();
                hosts.extend(resolved.into_iter().filter_map(|(n, ip)| Some((n, ip?))));
                hosts.retain(|name, _| quotas.keys().any(|e| hosts::host_name(e) == Some(name)));
                *self.hosts.write() = Arc::new(hosts);
                *self.current.write() = Arc::new(quotas);
                self.resolved.lock().clear();
            }
            Err(e) => {
                tracing::error!(error = %e, "storing client quotas failed");
                for (entity, result) in &mut results {
                    if planned.iter().any(|(e, _)| e == entity) {
                        *result = Err(QuotaError::Storage(e.to_string()));
                    }
                }
            }
        }
        results
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The quota of `measure` that applies to the sender of `ctx`.
    fn quota_for(&self, measure: Measure, ctx: &RequestContext) -> Option<(f64, Sharers)> {
        let user = ctx.principal.name.as_str();
        let client_id = ctx.client_id.as_str();
        let quotas = self.quotas();
        if quotas.is_empty() {
            return None;
        }
        let key = (user.to_string(), client_id.to_string(), measure);
        if let Some(found) = self.resolved.lock().get(&key) {
            return found.clone();
        }
        let found = resolve::client_quota(&quotas, measure.key(), user, client_id);
        let mut resolved = self.resolved.lock();
        // Client ids are the client's to choose: keep the cache bounded.
        if resolved.len() >= MAX_TRACKED {
            resolved.clear();
        }
        resolved.insert(key, found.clone());
        found
    }
}

/// How many clients' measures are kept before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Resolves the host names of the IP entities named (off the runtime's
/// threads: DNS lookups block).
async fn resolve_hosts(alterations: &[Alteration]) -> HashMap<String, Option<IpAddr>> {
    let names: Vec<String> = alterations
        .iter()
        .filter_map(|a| hosts::host_name(&a.entity).map(str::to_string))
        .collect();
    if names.is_empty() {
        return HashMap::new();
    }
    tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .map(|name| {
                let ip = hosts::resolve(&name);
                (name, ip)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Checks and normalises one entity's changes.
fn plan(
    entity: &QuotaEntity,
    ops: Vec<(String, Option<f64>)>,
    resolved: &HashMap<String, Option<IpAddr>>,
) -> Result<BTreeMap<String, Option<f64>>, QuotaError> {
    let mut changes = BTreeMap::new();
    for (key, value) in ops {
        if changes.contains_key(&key) {
            return Err(QuotaError::invalid(format!(
                "Duplicate quota key {key} not updating quota for this entity {}",
                entity::describe(entity)
            )));
        }
        changes.insert(key, value);
    }
    entity::check_entity(entity)?;
    if let Some(name) = hosts::host_name(entity) {
        if resolved.get(name).copied().flatten().is_none() {
            return Err(QuotaError::invalid(format!(
                "{name} is not a valid IP or resolvable host."
            )));
        }
    }
    for (key, value) in &changes {
        if let Some(value) = value {
            entity::check_value(entity, key, *value)?;
        }
    }
    Ok(changes)
}

/// A throttle in ms as responses carry it (an i32, saturating).
pub fn throttle_ms_i32(throttle: u64) -> i32 {
    i32::try_from(throttle).unwrap_or(i32::MAX)
}

/// A throttle as a `Duration`.
pub fn throttle_duration(throttle_ms: i32) -> Option<Duration> {
    (throttle_ms > 0).then(|| Duration::from_millis(throttle_ms as u64))
}

#[cfg(test)]
mod tests;
