//! Where the broker listens, keeps its data and who it is, from the Kafka
//! configs that say so (the listener configs in `listeners`, `log.dirs`,
//! `log.dir`, `node.id`, `broker.id`). Each takes effect, or start-up is
//! refused with a message naming it: what DescribeConfigs reports is what
//! the broker does.

use std::path::PathBuf;

use super::kafka_def::list_items;
use super::listeners::{listeners, ListenerConfig};
use super::{broker_config, StaticConfigs};

/// The Kafka names `Identity` reads.
pub(super) const IDENTITY_NAMES: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "log.dirs",
    "log.dir",
    "node.id",
    "broker.id",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Every listener to bind, in the order `listeners` gives them.
    pub listeners: Vec<ListenerConfig>,
    pub data_dir: PathBuf,
    pub node_id: i32,
}

impl Identity {
    pub fn from_statics(statics: &StaticConfigs) -> Result<Self, String> {
        let listeners = listeners(statics)?;
        Ok(Identity {
            listeners,
            data_dir: data_dir(statics)?,
            node_id: node_id(statics)?,
        })
    }
}

pub(super) fn value_or_default(statics: &StaticConfigs, name: &str) -> String {
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
        let taken = identity(&[]).unwrap();
        assert_eq!(taken.listeners.len(), 1);
        assert_eq!(taken.listeners[0].bind, "127.0.0.1:9092");
        assert_eq!(taken.listeners[0].name, "PLAINTEXT");
        assert_eq!(taken.listeners[0].advertised, None);
        assert_eq!(taken.data_dir, PathBuf::from("./fjord-data"));
        assert_eq!(taken.node_id, 1);
    }

    #[test]
    fn one_dir_and_an_id_take_effect() {
        let taken = identity(&[("log.dir", "/var/fjord"), ("broker.id", "7")]).unwrap();
        assert_eq!(taken.data_dir, PathBuf::from("/var/fjord"));
        assert_eq!(taken.node_id, 7);
        let both_dirs = identity(&[("log.dirs", "/a"), ("log.dir", "/b")]).unwrap();
        assert_eq!(both_dirs.data_dir, PathBuf::from("/a"), "log.dirs wins");
    }

    #[test]
    fn what_fjord_cannot_do_is_refused_naming_the_config() {
        for (configs, expected) in [
            (
                &[("log.dirs", "/a,/b")][..],
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
