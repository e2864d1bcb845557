//! Kafka's connection limits, with Kafka's meanings:
//! - `max.connections`: when every slot is taken, the acceptor waits for one
//!   to free up; new clients queue in the listen backlog meanwhile.
//! - `max.connections.per.ip` (and `max.connections.per.ip.overrides`,
//!   `host:count,…`): a connection over its address's limit is closed at once.
//! - `connections.max.idle.ms`: a connection with no request or response
//!   traffic for that long is closed (applied in `connection.rs`); a
//!   negative value never closes one, as in Kafka's selector.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::configs::StaticConfigs;

pub const MAX_CONNECTIONS: &str = "max.connections";
pub const MAX_CONNECTIONS_PER_IP: &str = "max.connections.per.ip";
pub const MAX_CONNECTIONS_PER_IP_OVERRIDES: &str = "max.connections.per.ip.overrides";
pub const CONNECTIONS_MAX_IDLE_MS: &str = "connections.max.idle.ms";

/// Kafka's default for both connection counts: Int.MaxValue, no limit.
const UNLIMITED: i64 = i32::MAX as i64;
const DEFAULT_MAX_IDLE_MS: i64 = 600_000;

#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for {name}: {problem}")]
pub struct LimitsError {
    name: &'static str,
    value: String,
    problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub per_ip_overrides: HashMap<IpAddr, usize>,
    /// `None`: idle connections are never closed.
    pub max_idle: Option<Duration>,
}

impl ConnectionLimits {
    /// Reads and checks the configs as Kafka does: counts at least 0, and a
    /// per-ip limit of 0 only together with overrides (else nobody could connect).
    pub fn from_configs(statics: &StaticConfigs) -> Result<Self, LimitsError> {
        let max_connections = count(statics, MAX_CONNECTIONS)?;
        let max_per_ip = count(statics, MAX_CONNECTIONS_PER_IP)?;
        let overrides_text = statics
            .values
            .get(MAX_CONNECTIONS_PER_IP_OVERRIDES)
            .map(String::as_str)
            .unwrap_or("");
        let per_ip_overrides = parse_overrides(overrides_text)?;
        if max_per_ip == 0 && per_ip_overrides.is_empty() {
            return Err(LimitsError {
                name: MAX_CONNECTIONS_PER_IP,
                value: "0".into(),
                problem: format!("can be zero only if {MAX_CONNECTIONS_PER_IP_OVERRIDES} is set"),
            });
        }
        let idle_ms = number(statics, CONNECTIONS_MAX_IDLE_MS, DEFAULT_MAX_IDLE_MS)?;
        Ok(ConnectionLimits {
            max_connections,
            max_per_ip,
            per_ip_overrides,
            max_idle: u64::try_from(idle_ms).ok().map(Duration::from_millis),
        })
    }

    fn max_for(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_per_ip)
    }
}

fn number(statics: &StaticConfigs, name: &'static str, default: i64) -> Result<i64, LimitsError> {
    let Some(value) = statics.values.get(name) else {
        return Ok(default);
    };
    value.trim().parse().map_err(|_| LimitsError {
        name,
        value: value.clone(),
        problem: "not a number".into(),
    })
}

fn count(statics: &StaticConfigs, name: &'static str) -> Result<usize, LimitsError> {
    let value = number(statics, name, UNLIMITED)?;
    if !(0..=UNLIMITED).contains(&value) {
        return Err(LimitsError {
            name,
            value: value.to_string(),
            problem: format!("must be between 0 and {UNLIMITED}"),
        });
    }
    Ok(value as usize)
}

/// `host:count,host:count`; a host name counts for every address it
/// resolves to at start-up (Kafka resolves it once too).
fn parse_overrides(text: &str) -> Result<HashMap<IpAddr, usize>, LimitsError> {
    let invalid = |problem: String| LimitsError {
        name: MAX_CONNECTIONS_PER_IP_OVERRIDES,
        value: text.to_string(),
        problem,
    };
    let mut overrides = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, limit) = entry
            .rsplit_once(':')
            .ok_or_else(|| invalid(format!("{entry:?} is not host:count")))?;
        let limit: usize = limit
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{entry:?}: the count is not a number of 0 or more")))?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| invalid(format!("cannot resolve {host:?}: {e}")))?
                .map(|addr| addr.ip())
                .collect(),
        };
        for ip in addresses {
            overrides.insert(ip, limit);
        }
    }
    Ok(overrides)
}

/// How much memory all connections together may set aside for frames
/// before their bytes have arrived (see [`Admission::hold_frame_room`]).
/// Without a bound, every client announcing a 1 MiB request and sending
/// nothing more would hold 1 MiB each, and connections are unlimited by
/// default. 16 MiB is room for a dozen and more producers' 1 MiB requests
/// arriving at once (and the allocator backs it with transparent huge
/// pages, so it may cost up to twice that in resident memory); past it,
/// frames are read into room that grows with what arrives, which is
/// slower but costs only what the clients sent.
pub const FRAME_ROOM_BUDGET: usize = 16 << 20;

/// The connection counts shared by the acceptor and every connection.
pub struct ConnectionQuotas {
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Bytes set aside for frames still arriving, across all connections.
    frame_room: AtomicUsize,
}

/// Held for a connection's whole life: its broker-wide slot and its
/// address's count, both given back on drop.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
    /// This connection's share of [`ConnectionQuotas::frame_room`].
    frame_room: usize,
}

impl Admission {
    /// Sets `bytes` aside for the frame this connection is reading, if the
    /// broker-wide [`FRAME_ROOM_BUDGET`] has that much left; false when
    /// the frame is to be read into room that grows with what arrives.
    pub fn hold_frame_room(&mut self, bytes: usize) -> bool {
        self.release_frame_room();
        let taken =
            self.quotas
                .frame_room
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    held.checked_add(bytes)
                        .filter(|&total| total <= FRAME_ROOM_BUDGET)
                });
        if taken.is_ok() {
            self.frame_room = bytes;
        }
        taken.is_ok()
    }

    /// The frame being read has arrived whole (or the connection ends).
    pub fn release_frame_room(&mut self) {
        if self.frame_room > 0 {
            self.quotas
                .frame_room
                .fetch_sub(self.frame_room, Ordering::AcqRel);
            self.frame_room = 0;
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.release_frame_room();
        let mut per_ip = self.quotas.per_ip.lock();
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl ConnectionQuotas {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(ConnectionQuotas {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            per_ip: Mutex::new(HashMap::new()),
            frame_room: AtomicUsize::new(0),
        })
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Waits until fewer than `max.connections` connections are open.
    pub async fn free_slot(&self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return slot;
        }
        tracing::info!(
            "{MAX_CONNECTIONS} ({}) reached; new connections wait until one closes",
            self.limits.max_connections
        );
        // The semaphore is never closed, so this only ever waits.
        loop {
            if let Ok(slot) = self.slots.clone().acquire_owned().await {
                return slot;
            }
        }
    }

    /// Counts a connection from `ip` against its limit; `Err` carries the
    /// limit it would exceed, and the connection is to be closed.
    pub fn admit(
        self: &Arc<Self>,
        slot: OwnedSemaphorePermit,
        ip: IpAddr,
    ) -> Result<Admission, usize> {
        let max = self.limits.max_for(ip);
        let mut per_ip = self.per_ip.lock();
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= max {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return Err(max);
        }
        *count += 1;
        Ok(Admission {
            _slot: slot,
            quotas: self.clone(),
            ip,
            frame_room: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(pairs: &[(&str, &str)]) -> Result<ConnectionLimits, LimitsError> {
        let mut statics = StaticConfigs::default();
        for (name, value) in pairs {
            statics.values.insert(name.to_string(), value.to_string());
        }
        ConnectionLimits::from_configs(&statics)
    }

    #[test]
    fn frame_room_is_shared_within_the_budget_and_given_back() {
        let quotas = ConnectionQuotas::new(limits(&[]).unwrap());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let admit = || {
            let slot = quotas.slots.clone().try_acquire_owned().unwrap();
            quotas.admit(slot, ip).unwrap()
        };
        let (mut first, mut second) = (admit(), admit());
        assert!(first.hold_frame_room(FRAME_ROOM_BUDGET - 10));
        assert!(!second.hold_frame_room(11));
        assert!(second.hold_frame_room(10));
        // Holding again replaces the connection's earlier room.
        assert!(second.hold_frame_room(10));
        first.release_frame_room();
        assert!(second.hold_frame_room(FRAME_ROOM_BUDGET));
        drop(second);
        assert!(first.hold_frame_room(FRAME_ROOM_BUDGET));
        assert_eq!(quotas.frame_room.load(Ordering::Acquire), FRAME_ROOM_BUDGET);
        drop(first);
        assert_eq!(quotas.frame_room.load(Ordering::Acquire), 0);
    }

    #[test]
    fn defaults_are_kafkas() {
        let limits = limits(&[]).unwrap();
        assert_eq!(limits.max_connections, i32::MAX as usize);
        assert_eq!(limits.max_per_ip, i32::MAX as usize);
        assert!(limits.per_ip_overrides.is_empty());
        assert_eq!(limits.max_idle, Some(Duration::from_millis(600_000)));
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        assert!(limits(&[(MAX_CONNECTIONS, "-1")]).is_err());
        assert!(limits(&[(MAX_CONNECTIONS, "lots")]).is_err());
        assert!(limits(&[(MAX_CONNECTIONS_PER_IP, "0")]).is_err());
        assert!(limits(&[(MAX_CONNECTIONS_PER_IP_OVERRIDES, "127.0.0.1")]).is_err());
        let only_listed = limits(&[
            (MAX_CONNECTIONS_PER_IP, "0"),
            (MAX_CONNECTIONS_PER_IP_OVERRIDES, "127.0.0.1:5, [::1]:7"),
        ])
        .unwrap();
        assert_eq!(only_listed.max_for("127.0.0.1".parse().unwrap()), 5);
        assert_eq!(only_listed.max_for("::1".parse().unwrap()), 7);
        assert_eq!(only_listed.max_for("10.0.0.1".parse().unwrap()), 0);
        assert_eq!(
            limits(&[(CONNECTIONS_MAX_IDLE_MS, "-1")]).unwrap().max_idle,
            None
        );
    }

    #[tokio::test]
    async fn per_ip_count_is_given_back_on_close() {
        let quotas = ConnectionQuotas::new(
            limits(&[(MAX_CONNECTIONS, "3"), (MAX_CONNECTIONS_PER_IP, "2")]).unwrap(),
        );
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = quotas.admit(quotas.free_slot().await, ip).unwrap();
        let _second = quotas.admit(quotas.free_slot().await, ip).unwrap();
        assert_eq!(quotas.admit(quotas.free_slot().await, ip).err(), Some(2));
        // The refused one gave its broker-wide slot back with it.
        let other = quotas
            .admit(quotas.free_slot().await, "127.0.0.2".parse().unwrap())
            .unwrap();
        assert!(quotas.slots.clone().try_acquire_owned().is_err());
        drop(first);
        let _third = quotas.admit(quotas.free_slot().await, ip).unwrap();
        drop(other);
        assert!(quotas
            .per_ip
            .lock()
            .get(&"127.0.0.2".parse().unwrap())
            .is_none());
    }
}
