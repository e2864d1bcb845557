//! IP entities may name a host instead of an address, as Kafka's do
//! (`InetAddress.getByName`): the name must resolve when the quota is set,
//! and the quota applies to the first address it resolved to, resolved
//! again only when the broker starts (as Kafka resolves it once per change).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};

use fjord_storage::quotas::{QuotaEntity, StoredQuotas};

use super::entity::IP;

/// Host names of IP entities and the address each stands for.
pub type Hosts = HashMap<String, IpAddr>;

/// The name of an IP entity that is not an address literal.
pub fn host_name(entity: &QuotaEntity) -> Option<&str> {
    let name = entity.get(IP)?.as_deref()?;
    name.parse::<IpAddr>().is_err().then_some(name)
}

/// The first address `name` resolves to (blocking: a DNS lookup).
pub fn resolve(name: &str) -> Option<IpAddr> {
    (name, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// The addresses of every host-named IP entity stored; a name that no
/// longer resolves is left out (its quota then applies to nobody) and said.
pub fn resolve_all(quotas: &StoredQuotas) -> Hosts {
    let mut hosts = Hosts::new();
    for name in quotas.keys().filter_map(host_name) {
        match resolve(name) {
            Some(ip) => {
                hosts.insert(name.to_string(), ip);
            }
            None => tracing::warn!(
                "the client quota of IP entity {name} applies to nobody: it does not resolve"
            ),
        }
    }
    hosts
}

/// An IP entity's address: its literal, or what its host name resolved to.
pub fn address_of(name: &str, hosts: &Hosts) -> Option<IpAddr> {
    name.parse().ok().or_else(|| hosts.get(name).copied())
}
