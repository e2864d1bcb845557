//! Which stored quota applies to a client, in Kafka's order of precedence
//! (the most specific entity that sets the key wins, for each key on its
//! own):
//!
//! 1. user and client id (`/config/users/<user>/clients/<client-id>`)
//! 2. user and the default client id
//! 3. user
//! 4. the default user and client id
//! 5. the default user and the default client id
//! 6. the default user
//! 7. client id
//! 8. the default client id
//!
//! and for connections from an IP address, that address, then the default
//! IP. The entity found also decides who shares a measure (Kafka's metric
//! tags): a quota set on a user is shared by all its client ids, one set on
//! a default applies to each user (or client id) on its own.

use std::net::IpAddr;

use fjord_storage::quotas::{QuotaEntity, StoredQuotas};

use super::entity::{entity_of, CLIENT_ID, IP, USER};
use super::hosts::{address_of, Hosts};

/// Who shares a measure: the user and client id it is kept for, each
/// `None` when the quota found does not name that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sharers {
    pub user: Option<String>,
    pub client_id: Option<String>,
}

/// A type's place in a candidate entity: `Some(Some(name))` named,
/// `Some(None)` the default, `None` absent.
type Level<'a> = Option<Option<&'a str>>;

/// The bound on `key` for `user` connecting as `client_id`, and who shares it.
pub fn client_quota(
    quotas: &StoredQuotas,
    key: &str,
    user: &str,
    client_id: &str,
) -> Option<(f64, Sharers)> {
    let candidates: [(Level, Level); 8] = [
        (Some(Some(user)), Some(Some(client_id))),
        (Some(Some(user)), Some(None)),
        (Some(Some(user)), None),
        (Some(None), Some(Some(client_id))),
        (Some(None), Some(None)),
        (Some(None), None),
        (None, Some(Some(client_id))),
        (None, Some(None)),
    ];
    candidates.into_iter().find_map(|(u, c)| {
        let pairs = u
            .map(|u| (USER, u))
            .into_iter()
            .chain(c.map(|c| (CLIENT_ID, c)));
        let bound = *quotas.get(&entity_of(pairs))?.get(key)?;
        let sharers = Sharers {
            user: u.map(|_| user.to_string()),
            client_id: c.map(|_| client_id.to_string()),
        };
        Some((bound, sharers))
    })
}

/// The bound on `key` for connections from `ip`: an entity naming the
/// address (in any spelling of it, or by a host name resolving to it),
/// else the default IP entity.
pub fn ip_quota(quotas: &StoredQuotas, key: &str, ip: IpAddr, hosts: &Hosts) -> Option<f64> {
    let named = quotas.iter().find_map(|(entity, values)| {
        let name = entity.get(IP)?.as_deref()?;
        (entity.len() == 1 && address_of(name, hosts)? == ip)
            .then(|| values.get(key).copied())
            .flatten()
    });
    named.or_else(|| {
        let default: QuotaEntity = entity_of([(IP, None)]);
        quotas.get(&default)?.get(key).copied()
    })
}
