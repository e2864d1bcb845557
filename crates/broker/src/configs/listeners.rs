//! Kafka's listener configs: `listeners` (what to bind, by listener name),
//! `advertised.listeners` (what clients are told), the
//! `listener.security.protocol.map` between names and security protocols,
//! and the inter-broker listener (`inter.broker.listener.name` or
//! `security.inter.broker.protocol`), validated with Kafka's rules and
//! messages. Per-listener overrides (`listener.name.<name>.<config>`) are
//! looked up here too.

use std::collections::BTreeMap;

use super::kafka_def::list_items;
use super::StaticConfigs;
use crate::request_context::SecurityProtocol;

/// Kafka's prefix for a config given for one listener only.
const LISTENER_PREFIX: &str = "listener.name.";

/// One listener the broker binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    pub security_protocol: SecurityProtocol,
    /// `host:port` to bind (port 0 picks a free one); an empty host in
    /// `listeners` binds every interface.
    pub bind: String,
    /// The host and port clients are told, from `advertised.listeners`;
    /// None: the address bound.
    pub advertised: Option<(String, u16)>,
}

/// `NAME://host:port`, parsed; the host without IPv6 brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    name: String,
    host: String,
    port: u16,
}

fn refusal(name: &str, value: &str, reason: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {reason}")
}

/// Every listener to bind, validated against each other and the other
/// listener configs. Listeners named in `controller.listener.names` are
/// left out: Fjord has no KRaft controller to serve on them.
pub fn listeners(statics: &StaticConfigs) -> Result<Vec<ListenerConfig>, String> {
    let value = |name: &str| super::startup::value_or_default(statics, name);
    let protocols = protocol_map(&value("listener.security.protocol.map"))?;
    let controller: Vec<String> = statics
        .values
        .get("controller.listener.names")
        .map(|names| list_items(names).map(str::to_ascii_uppercase).collect())
        .unwrap_or_default();

    let listed = value("listeners");
    let bound = endpoints("listeners", &listed)?;
    distinct_ports(&listed, &bound)?;
    let bound: Vec<Endpoint> = bound
        .into_iter()
        .filter(|e| !controller.contains(&e.name))
        .collect();
    if bound.is_empty() {
        return Err(refusal(
            "listeners",
            &listed,
            "the broker needs at least one listener that is not a controller listener",
        ));
    }
    let protocol_of = |endpoint: &Endpoint, config: &str, value: &str| {
        protocols.get(&endpoint.name).copied().ok_or_else(|| {
            refusal(
                config,
                value,
                &format!(
                    "No security protocol defined for listener {}: add it to \
                     listener.security.protocol.map",
                    endpoint.name
                ),
            )
        })
    };

    let advertised = match statics.values.get("advertised.listeners") {
        None => Vec::new(),
        Some(value) => advertised_endpoints(value, &bound, &controller)?,
    };
    inter_broker_listener(statics, &bound, &advertised)?;

    bound
        .iter()
        .map(|endpoint| {
            let advertised = advertised
                .iter()
                .find(|a| a.name == endpoint.name)
                .map(|a| (a.host.clone(), a.port));
            let host = if endpoint.host.is_empty() {
                "0.0.0.0"
            } else {
                &endpoint.host
            };
            let bind = if host.contains(':') {
                format!("[{host}]:{}", endpoint.port)
            } else {
                format!("{host}:{}", endpoint.port)
            };
            Ok(ListenerConfig {
                name: endpoint.name.clone(),
                security_protocol: protocol_of(endpoint, "listeners", &listed)?,
                bind,
                advertised,
            })
        })
        .collect()
}

/// `listener.security.protocol.map`: `NAME:PROTOCOL` pairs, names in any
/// case (Kafka upper-cases them), protocols by Kafka's names in any case.
fn protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    const NAME: &str = "listener.security.protocol.map";
    let mut map = BTreeMap::new();
    for item in list_items(value) {
        let Some((listener, protocol)) = item.split_once(':') else {
            return Err(refusal(
                NAME,
                value,
                &format!("{item} is not LISTENER_NAME:SECURITY_PROTOCOL"),
            ));
        };
        let (listener, protocol) = (listener.trim(), protocol.trim());
        if listener.is_empty() {
            return Err(refusal(NAME, value, &format!("{item} names no listener")));
        }
        let protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
            refusal(
                NAME,
                value,
                &format!(
                    "Invalid security protocol `{protocol}`: one of PLAINTEXT, SSL, \
                     SASL_PLAINTEXT, SASL_SSL"
                ),
            )
        })?;
        // Later entries win, as in Kafka's parsing of the map.
        map.insert(listener.to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// A listener list: `NAME://host:port` items, names unique.
fn endpoints(name: &str, value: &str) -> Result<Vec<Endpoint>, String> {
    let mut parsed: Vec<Endpoint> = Vec::new();
    for item in list_items(value) {
        let endpoint = endpoint(item).map_err(|reason| refusal(name, value, &reason))?;
        if parsed.iter().any(|e| e.name == endpoint.name) {
            return Err(refusal(
                name,
                value,
                &format!(
                    "Each listener must have a different name; {} is given twice",
                    endpoint.name
                ),
            ));
        }
        parsed.push(endpoint);
    }
    if parsed.is_empty() {
        return Err(refusal(
            name,
            value,
            "give at least one listener, as NAME://host:port (e.g. PLAINTEXT://127.0.0.1:9092)",
        ));
    }
    Ok(parsed)
}

fn endpoint(item: &str) -> Result<Endpoint, String> {
    let Some((name, address)) = item.split_once("://") else {
        return Err(format!(
            "{item}: a listener is NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092"
        ));
    };
    if name.is_empty() {
        return Err(format!("{item}: a listener needs a name before ://"));
    }
    let parsed = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let Some((host, port)) = parsed else {
        return Err(format!(
            "{item}: a listener's address is host:port with a port from 0 to 65535"
        ));
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // Kafka's pattern for a listener's host.
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':');
    if !host.chars().all(allowed) {
        return Err(format!("{item}: {host} is not a host name or address"));
    }
    Ok(Endpoint {
        name: name.to_ascii_uppercase(),
        host: host.to_string(),
        port,
    })
}

/// Kafka's rule: listeners on one port (other than 0) are refused, unless
/// they are exactly two, one on an IPv4 and the other on an IPv6 address.
fn distinct_ports(value: &str, bound: &[Endpoint]) -> Result<(), String> {
    for (i, endpoint) in bound.iter().enumerate() {
        if endpoint.port == 0 {
            continue;
        }
        let same: Vec<&Endpoint> = bound[i..]
            .iter()
            .filter(|e| e.port == endpoint.port)
            .collect();
        if same.len() < 2 {
            continue;
        }
        let family = |e: &Endpoint| match e.host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => Some(4),
            Ok(std::net::IpAddr::V6(_)) => Some(6),
            Err(_) => None,
        };
        let one_of_each = same.len() == 2
            && matches!(
                (family(same[0]), family(same[1])),
                (Some(4), Some(6)) | (Some(6), Some(4))
            );
        if !one_of_each {
            return Err(refusal(
                "listeners",
                value,
                &format!(
                    "Each listener must have a different port unless exactly one listener has \
                     an IPv4 address and the other an IPv6 address; {} share port {}",
                    same.iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" and "),
                    endpoint.port
                ),
            ));
        }
    }
    Ok(())
}

/// `advertised.listeners`: names among the bound listeners, hosts clients
/// can reach. Ports may repeat (a load balancer may front several).
fn advertised_endpoints(
    value: &str,
    bound: &[Endpoint],
    controller: &[String],
) -> Result<Vec<Endpoint>, String> {
    const NAME: &str = "advertised.listeners";
    let advertised = endpoints(NAME, value)?;
    for endpoint in &advertised {
        if controller.contains(&endpoint.name) {
            return Err(refusal(
                NAME,
                value,
                &format!(
                    "{} is a controller listener (controller.listener.names): clients are \
                     only told about broker listeners",
                    endpoint.name
                ),
            ));
        }
        if !bound.iter().any(|b| b.name == endpoint.name) {
            return Err(refusal(
                NAME,
                value,
                &format!(
                    "advertised.listeners listener names must be equal to or a subset of the \
                     ones defined in listeners; {} is not. The valid options based on the \
                     current configuration are {}",
                    endpoint.name,
                    names(bound)
                ),
            ));
        }
        if endpoint.host.is_empty() || endpoint.host == "0.0.0.0" || endpoint.host == "::" {
            return Err(refusal(
                NAME,
                value,
                &format!(
                    "{}: clients need a host name or a routable address to connect to, not \
                     an empty host or a meta-address such as 0.0.0.0",
                    endpoint.name
                ),
            ));
        }
    }
    Ok(advertised)
}

fn names(endpoints: &[Endpoint]) -> String {
    endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Kafka allows one of the two ways of naming the inter-broker listener,
/// and it must be an advertised listener. A single broker talks to no other
/// broker, so when neither is set nothing is required of the listeners
/// (Kafka would require a PLAINTEXT listener).
fn inter_broker_listener(
    statics: &StaticConfigs,
    bound: &[Endpoint],
    advertised: &[Endpoint],
) -> Result<(), String> {
    let by_name = statics.values.get("inter.broker.listener.name");
    let by_protocol = statics.values.get("security.inter.broker.protocol");
    let (config, value, listener) = match (by_name, by_protocol) {
        (Some(_), Some(_)) => {
            return Err(
                "Only one of inter.broker.listener.name and security.inter.broker.protocol \
                 should be set"
                    .to_string(),
            )
        }
        (Some(value), None) => ("inter.broker.listener.name", value, value.trim()),
        (None, Some(value)) => ("security.inter.broker.protocol", value, value.trim()),
        (None, None) => return Ok(()),
    };
    // Without advertised.listeners every bound listener is advertised.
    let advertised = if advertised.is_empty() {
        bound
    } else {
        advertised
    };
    let listener = listener.to_ascii_uppercase();
    if advertised.iter().any(|e| e.name == listener) {
        Ok(())
    } else {
        Err(refusal(
            config,
            value,
            &format!(
                "the inter-broker listener {listener} must be a listener name defined in \
                 advertised.listeners. The valid options based on currently configured \
                 listeners are {}",
                names(advertised)
            ),
        ))
    }
}

/// `listener.name.<listener>.<config>` → (listener, config). Kafka writes
/// the listener in lower case; any case is taken here.
pub fn split_listener_override(name: &str) -> Option<(&str, &str)> {
    let rest = name
        .get(..LISTENER_PREFIX.len())
        .filter(|prefix| prefix.eq_ignore_ascii_case(LISTENER_PREFIX))
        .map(|_| &name[LISTENER_PREFIX.len()..])?;
    rest.split_once('.')
        .filter(|(listener, config)| !listener.is_empty() && !config.is_empty())
}

impl StaticConfigs {
    /// A config's value for one listener, with the name it was given
    /// under: `listener.name.<listener>.<name>` if set, else `<name>` if
    /// set (the registry's default is not applied).
    pub fn for_listener(&self, listener: &str, name: &str) -> Option<(&str, &str)> {
        self.values
            .iter()
            .find(|(key, _)| {
                split_listener_override(key)
                    .is_some_and(|(l, config)| l.eq_ignore_ascii_case(listener) && config == name)
            })
            .or_else(|| self.values.get_key_value(name))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

#[cfg(test)]
#[path = "listeners_tests.rs"]
mod tests;
