//! Where the broker listens, keeps its data and who it is, from the Kafka
//! configs that say so (`listeners`, `advertised.listeners`, `log.dirs`,
//! `log.dir`, `node.id`, `broker.id`). Each takes effect, or start-up is
//! refused with a message naming it: what DescribeConfigs reports is what
//! the broker does.

use std::path::PathBuf;

use super::kafka_def::list_items;
use super::{broker_config, StaticConfigs};

/// The Kafka names `Identity` reads.
pub(super) const IDENTITY_NAMES: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "node.id",
    "broker.id",
];

const ONE_LISTENER: &str = "Fjord serves one PLAINTEXT listener until TLS and SASL are built";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `host:port` to bind; an empty host in `listeners` binds every interface.
    pub listen: String,
    /// `advertised.listeners`' host and port, when set.
    pub advertised: Option<(String, u16)>,
    pub data_dir: PathBuf,
    pub node_id: i32,
}

impl Identity {
    pub fn from_statics(statics: &StaticConfigs) -> Result<Self, String> {
        let listeners = value_or_default(statics, "listeners");
        let (host, port) = plaintext_listener("listeners", &listeners)?;
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        let advertised = match statics.values.get("advertised.listeners") {
            None => None,
            Some(value) => {
                let (host, port) = plaintext_listener("advertised.listeners", value)?;
                if host.is_empty() {
                    return Err(refusal(
                        "advertised.listeners",
                        value,
                        "clients need a host name or address to connect to",
                    ));
                }
                Some((host.trim_matches(['[', ']']).to_string(), port))
            }
        };
        Ok(Identity {
            listen: format!("{host}:{port}"),
            advertised,
            data_dir: data_dir(statics)?,
            node_id: node_id(statics)?,
        })
    }
}

fn value_or_default(statics: &StaticConfigs, name: &str) -> String {
    statics
        .values
        .get(name)
        .cloned()
        .or_else(|| {
            broker_config(name)
                .and_then(|def| def.default())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn refusal(name: &str, value: &str, reason: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {reason}")
}

/// The host (possibly empty) and port of the one PLAINTEXT listener `value` lists.
fn plaintext_listener<'a>(name: &str, value: &'a str) -> Result<(&'a str, u16), String> {
    let listeners: Vec<&str> = list_items(value).collect();
    let &[listener] = listeners.as_slice() else {
        return Err(refusal(
            name,
            value,
            &format!("{ONE_LISTENER}; give exactly one, as PLAINTEXT://host:port"),
        ));
    };
    let Some((protocol, address)) = listener.split_once("://") else {
        return Err(refusal(
            name,
            value,
            "a listener is NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092",
        ));
    };
    if !protocol.eq_ignore_ascii_case("PLAINTEXT") {
        return Err(refusal(
            name,
            value,
            &format!("{ONE_LISTENER}; {protocol} is not served yet"),
        ));
    }
    let port = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    port.ok_or_else(|| {
        refusal(
            name,
            value,
            "a listener's address is host:port with a port from 0 to 65535",
        )
    })
}

/// `log.dirs`, else Kafka's single-directory `log.dir`, else the default.
fn data_dir(statics: &StaticConfigs) -> Result<PathBuf, String> {
    let name = if statics.values.contains_key("log.dirs") || !statics.values.contains_key("log.dir")
    {
        "log.dirs"
    } else {
        "log.dir"
    };
    let value = value_or_default(statics, name);
    let dirs: Vec<&str> = list_items(&value).collect();
    match dirs.as_slice() {
        [dir] if !dir.is_empty() => Ok(PathBuf::from(dir)),
        [] | [_] => Err(refusal(name, &value, "a data directory is needed")),
        _ => Err(refusal(
            name,
            &value,
            "Fjord keeps every partition in one data directory: spreading them over several \
             is not built yet",
        )),
    }
}

/// `node.id`; Kafka's older name `broker.id` must agree with it when both are set.
fn node_id(statics: &StaticConfigs) -> Result<i32, String> {
    let parse = |name: &str, value: &str| {
        value
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| refusal(name, value, "a node id is a number from 0 to 2147483647"))
    };
    let node = statics.values.get("node.id");
    let broker = statics.values.get("broker.id");
    match (node, broker) {
        (Some(node), Some(broker)) => {
            let (node_id, broker_id) = (parse("node.id", node)?, parse("broker.id", broker)?);
            if node_id == broker_id {
                Ok(node_id)
            } else {
                Err(format!(
                    "Invalid value {broker} for configuration broker.id: it names the same \
                     broker as node.id, which is {node}; set one of them, or both alike"
                ))
            }
        }
        (Some(node), None) => parse("node.id", node),
        (None, Some(broker)) => parse("broker.id", broker),
        (None, None) => parse("node.id", &value_or_default(statics, "node.id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(configs: &[(&str, &str)]) -> Result<Identity, String> {
        let mut statics = StaticConfigs::default();
        for (name, value) in configs {
            statics.values.insert(name.to_string(), value.to_string());
        }
        Identity::from_statics(&statics)
    }

    #[test]
    fn defaults_serve_loopback_with_data_beside() {
        assert_eq!(
            identity(&[]),
            Ok(Identity {
                listen: "127.0.0.1:9092".into(),
                advertised: None,
                data_dir: PathBuf::from("./fjord-data"),
                node_id: 1,
            })
        );
    }

    #[test]
    fn one_plaintext_listener_one_dir_and_an_id_take_effect() {
        let taken = identity(&[
            ("listeners", "PLAINTEXT://:19092"),
            ("advertised.listeners", "PLAINTEXT://broker.example:9092"),
            ("log.dir", "/var/fjord"),
            ("broker.id", "7"),
        ])
        .unwrap();
        assert_eq!(taken.listen, "0.0.0.0:19092");
        assert_eq!(taken.advertised, Some(("broker.example".into(), 9092)));
        assert_eq!(taken.data_dir, PathBuf::from("/var/fjord"));
        assert_eq!(taken.node_id, 7);
        let both_dirs = identity(&[("log.dirs", "/a"), ("log.dir", "/b")]).unwrap();
        assert_eq!(both_dirs.data_dir, PathBuf::from("/a"), "log.dirs wins");
    }

    #[test]
    fn what_fjord_cannot_do_is_refused_naming_the_config() {
        for (configs, expected) in [
            (
                &[("listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2")][..],
                "Invalid value PLAINTEXT://a:1,PLAINTEXT://b:2 for configuration listeners: \
                 Fjord serves one PLAINTEXT listener",
            ),
            (
                &[("listeners", "SSL://:9093")],
                "configuration listeners: Fjord serves one PLAINTEXT listener until TLS and SASL \
                 are built; SSL is not served yet",
            ),
            (&[("listeners", "127.0.0.1:9092")], "a listener is NAME://"),
            (&[("listeners", "PLAINTEXT://host")], "host:port"),
            (
                &[("advertised.listeners", "PLAINTEXT://:9092")],
                "configuration advertised.listeners",
            ),
            (
                &[("log.dirs", "/a,/b")],
                "configuration log.dirs: Fjord keeps",
            ),
            (
                &[("log.dirs", "")],
                "configuration log.dirs: a data directory",
            ),
            (
                &[("node.id", "1"), ("broker.id", "2")],
                "configuration broker.id: it names the same broker as node.id",
            ),
            (&[("broker.id", "-1")], "configuration broker.id"),
        ] {
            let refused = identity(configs).unwrap_err();
            assert!(refused.contains(expected), "{configs:?}: {refused}");
        }
    }
}
