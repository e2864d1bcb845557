//! Settings from, in rising precedence: defaults, a TOML file, `FJORD_*`
//! environment variables, command-line flags. Broker and topic defaults use
//! Kafka's names (`num.partitions`, `log.retention.ms`, …).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use fjord_broker::configs::{broker_configs, validate_broker_config};
use fjord_broker::BrokerConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML file: Kafka-named broker configs as keys, and `listen`,
    /// `data_dir`, `node_id`, `cluster_id`, `advertised_listener`.
    #[arg(long, env = "FJORD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, host:port (sets `listeners` to PLAINTEXT://host:port).
    #[arg(long)]
    pub listen: Option<String>,
    /// host:port announced to clients in Metadata (sets `advertised.listeners`).
    #[arg(long)]
    pub advertised_listener: Option<String>,
    /// Directory for logs and metadata (sets `log.dirs`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Sets `node.id`.
    #[arg(long)]
    pub node_id: Option<i32>,
    /// Cluster id for a new data dir.
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// A Kafka broker config, `name=value` (repeatable), e.g. `num.partitions=4`.
    #[arg(long = "override", value_name = "NAME=VALUE")]
    pub overrides: Vec<String>,
}

/// One value from one source: a Kafka config name (or `cluster_id`), its
/// value, and where it was given, for the message that refuses it.
struct Setting {
    name: String,
    value: String,
    origin: String,
}

/// Not a Kafka config: the cluster id a new data dir gets.
const CLUSTER_ID: &str = "cluster_id";

/// Fjord's own short names, each standing for a Kafka config (or the cluster id).
fn own_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "listen" => "listeners",
        "advertised_listener" => "advertised.listeners",
        "data_dir" => "log.dirs",
        "node_id" => "node.id",
        "cluster_id" => CLUSTER_ID,
        _ => return None,
    })
}

/// A value for Fjord's short name, as its Kafka config takes it.
fn own_value(name: &str, value: &str) -> String {
    match name {
        "listeners" | "advertised.listeners" if !value.contains("://") => {
            format!("PLAINTEXT://{value}")
        }
        _ => value.to_string(),
    }
}

fn own_setting(key: &str, value: &str, origin: String) -> Setting {
    let name = own_name(key).unwrap_or(CLUSTER_ID);
    Setting {
        name: name.to_string(),
        value: own_value(name, value.trim()),
        origin,
    }
}

/// Kafka's older names of the same thing: a source that sets one drops the
/// other from the sources below it, so the higher source wins whichever
/// name it uses. Both set in one source must agree (`Identity` checks).
const SAME_THING: &[(&str, &str)] = &[("node.id", "broker.id"), ("log.dirs", "log.dir")];

/// Every source, lowest first, each checked against the config registry;
/// the error names the config and the source.
pub fn load(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let settings = toml_settings(&text, &path.display().to_string())
            .with_context(|| format!("in {}", path.display()))?;
        apply(&mut config, settings, false)?;
    }
    apply(&mut config, env_settings(), false)?;
    apply(&mut config, flag_settings(args)?, true)?;
    config.resolve()?;
    Ok(config)
}

/// Applies one source over those below it. Two values for one config in a
/// file or in the environment are refused (FJORD_LISTEN and FJORD_LISTENERS
/// say the same thing); among flags, the later one wins, as `--override`s do.
fn apply(
    config: &mut BrokerConfig,
    settings: Vec<Setting>,
    later_wins: bool,
) -> anyhow::Result<()> {
    if !later_wins {
        for (i, setting) in settings.iter().enumerate() {
            let earlier = settings[..i].iter().find(|s| s.name == setting.name);
            if let Some(earlier) = earlier.filter(|s| s.value != setting.value) {
                bail!(
                    "{} and {} both set {}, to different values",
                    earlier.origin,
                    setting.origin,
                    setting.name
                );
            }
        }
    }
    for setting in &settings {
        if setting.name == CLUSTER_ID {
            config.cluster_id = Some(setting.value.clone());
            continue;
        }
        validate_broker_config(&setting.name, &setting.value)
            .map_err(|e| anyhow!("{}: {e}", setting.origin))?;
        for (a, b) in SAME_THING {
            let other = if setting.name == *a {
                b
            } else if setting.name == *b {
                a
            } else {
                continue;
            };
            if !settings.iter().any(|s| s.name == *other) {
                config.statics.values.remove(*other);
            }
        }
        config
            .statics
            .values
            .insert(setting.name.clone(), setting.value.clone());
    }
    Ok(())
}

/// `FJORD_<NAME>` for each Kafka name (dots as underscores, upper case),
/// and `FJORD_LISTEN`, `FJORD_DATA_DIR`… for Fjord's short names.
fn env_settings() -> Vec<Setting> {
    let mut settings = Vec::new();
    let mut known = vec!["FJORD_CONFIG".to_string(), "FJORD_LOG".to_string()];
    for key in [
        "listen",
        "advertised_listener",
        "data_dir",
        "node_id",
        "cluster_id",
    ] {
        let var = format!("FJORD_{}", key.to_uppercase());
        if let Ok(value) = std::env::var(&var) {
            settings.push(own_setting(key, &value, var.clone()));
        }
        known.push(var);
    }
    for name in broker_configs().map(|def| def.name()) {
        let var = env_var(name);
        if let Ok(value) = std::env::var(&var) {
            settings.push(Setting {
                name: name.to_string(),
                value: value.trim().to_string(),
                origin: var.clone(),
            });
        }
        known.push(var);
    }
    // Other tools share the prefix (test harnesses set FJORD_TEST_…), so an
    // unknown name is not refused; but a misspelt config is worth a line.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        if var.starts_with("FJORD_") && !known.iter().any(|k| *k == var) {
            tracing::warn!("{var} is not a Fjord setting or a Kafka broker config: ignored");
        }
    }
    settings
}

fn env_var(kafka_name: &str) -> String {
    format!(
        "FJORD_{}",
        kafka_name.replace(['.', '-'], "_").to_uppercase()
    )
}

fn flag_settings(args: &ServeArgs) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    let mut flag = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            settings.push(own_setting(
                key,
                &value,
                format!("--{}", key.replace('_', "-")),
            ));
        }
    };
    flag("listen", args.listen.clone());
    flag("advertised_listener", args.advertised_listener.clone());
    flag(
        "data_dir",
        args.data_dir.as_ref().map(|d| d.display().to_string()),
    );
    flag("node_id", args.node_id.map(|id| id.to_string()));
    flag("cluster_id", args.cluster_id.clone());
    for item in &args.overrides {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--override wants name=value, got {item:?}");
        };
        settings.push(Setting {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            origin: format!("--override {}", name.trim()),
        });
    }
    Ok(settings)
}

/// A TOML table's values by their dotted names: `[sasl.plain.users]` with
/// `alice = "…"` (or an unquoted `num.partitions = 4`, which TOML reads as
/// nested tables) sets `sasl.plain.users.alice` (`num.partitions`).
fn flatten(prefix: &str, table: toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&name, inner, out),
            value => out.push((name, value)),
        }
    }
}

fn toml_settings(text: &str, file: &str) -> anyhow::Result<Vec<Setting>> {
    let table: toml::Table = text.parse()?;
    let mut values = Vec::new();
    flatten("", table, &mut values);
    let mut settings = Vec::new();
    for (key, value) in values {
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            // A Kafka LIST, e.g. log.dirs = ["/data"].
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(anyhow!("{key}: list items must be strings, got {other}")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(","),
            other => bail!("{key}: expected a string, number, boolean or list, got {other}"),
        };
        let origin = format!("{file}: {key}");
        settings.push(match own_name(&key) {
            Some(_) => own_setting(&key, &text, origin),
            None => Setting {
                name: key,
                value: text.trim().to_string(),
                origin,
            },
        });
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> anyhow::Result<BrokerConfig> {
        let mut config = BrokerConfig::default();
        apply(&mut config, toml_settings(text, "fjord.toml")?, false)?;
        config.resolve()?;
        Ok(config)
    }

    fn with_flags(config: &mut BrokerConfig, args: ServeArgs) -> anyhow::Result<()> {
        apply(config, flag_settings(&args)?, true)?;
        config.resolve()?;
        Ok(())
    }

    #[test]
    fn toml_tables_and_unquoted_dotted_keys_set_dotted_names() {
        let hash = fjord_broker::security::plain::PasswordHash::create(b"pw", 10_000)
            .unwrap()
            .to_string();
        let config = from_toml(&format!(
            "num.partitions = 3\n[sasl.plain.users]\nalice = \"{hash}\"\n"
        ))
        .unwrap();
        assert_eq!(config.settings.num_partitions, 3);
        assert_eq!(
            config.statics.values.get("sasl.plain.users.alice"),
            Some(&hash)
        );
        let bad = from_toml("[sasl.plain.users]\nalice = \"plaintext\"")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("sasl.plain.users.alice"), "{bad}");
        assert!(!bad.contains("plaintext\""), "{bad}");
    }

    #[test]
    fn toml_sets_own_keys_and_kafka_names() {
        let config = from_toml(
            "listen = \"127.0.0.1:19092\"\ndata_dir = \"/tmp/x\"\n\"num.partitions\" = 4\n\"auto.create.topics.enable\" = false\n",
        )
        .unwrap();
        assert_eq!(config.listeners[0].bind, "127.0.0.1:19092");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            config.statics.values.get("listeners").map(String::as_str),
            Some("PLAINTEXT://127.0.0.1:19092")
        );
        assert_eq!(config.num_partitions(), 4);
        assert!(!config.auto_create_topics());
        let unknown = from_toml("\"no.such.config\" = 1").unwrap_err().to_string();
        assert!(
            unknown.contains("fjord.toml: no.such.config: Unknown broker config no.such.config"),
            "{unknown}"
        );
        let twice = from_toml("listen = \"127.0.0.1:1\"\nlisteners = \"PLAINTEXT://127.0.0.1:2\"")
            .unwrap_err()
            .to_string();
        assert!(twice.contains("both set listeners"), "{twice}");
        let dirs = from_toml("\"log.dirs\" = [\"/a\", \"/b\"]")
            .unwrap_err()
            .to_string();
        assert!(
            dirs.contains("Invalid value /a,/b for configuration log.dirs"),
            "{dirs}"
        );
    }

    #[test]
    fn fetch_max_bytes_has_kafkas_default_and_minimum() {
        assert_eq!(BrokerConfig::default().fetch_max_bytes(), 57_671_680);
        assert_eq!(
            from_toml("\"fetch.max.bytes\" = 2048")
                .unwrap()
                .fetch_max_bytes(),
            2048
        );
        assert!(from_toml("\"fetch.max.bytes\" = 1023").is_err());
        assert!(from_toml("\"fetch.max.bytes\" = 4294967296").is_err());
    }

    #[test]
    fn a_higher_source_wins_whichever_name_it_uses() {
        let mut config = from_toml("\"broker.id\" = 2\n\"log.dir\" = \"/from/toml\"").unwrap();
        assert_eq!(
            (config.node_id, config.data_dir.clone()),
            (2, PathBuf::from("/from/toml"))
        );
        let args = ServeArgs {
            node_id: Some(5),
            data_dir: Some(PathBuf::from("/from/flag")),
            listen: Some("127.0.0.1:1".into()),
            overrides: vec!["listeners=PLAINTEXT://127.0.0.1:2".into()],
            ..ServeArgs::default()
        };
        with_flags(&mut config, args).unwrap();
        assert_eq!(config.node_id, 5);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(
            config.listeners[0].bind, "127.0.0.1:2",
            "--override comes after --listen"
        );
        assert!(!config.statics.values.contains_key("broker.id"));
    }

    #[test]
    fn kafka_quick_start_names_are_taken_and_bad_values_refused() {
        let config = from_toml(
            "\"offsets.topic.replication.factor\" = 1\n\"transaction.state.log.replication.factor\" = 1\n\"transaction.state.log.min.isr\" = 1\n",
        )
        .unwrap();
        assert_eq!(
            config
                .statics
                .values
                .get("transaction.state.log.min.isr")
                .map(String::as_str),
            Some("1")
        );
        let error = |name: &str, value: &str| {
            from_toml(&format!("\"{name}\" = \"{value}\""))
                .unwrap_err()
                .to_string()
        };
        assert!(error("zookeeper.connect", "x:2181").contains("no such config"));
        assert!(error("offsets.topic.replication.factor", "0").ends_with(
            "Invalid value 0 for configuration offsets.topic.replication.factor: Value must be at least 1"
        ));
        assert!(error("auto.create.topics.enable", "yes").contains("true or false"));
        assert!(error("log.retention.ms", "-7").contains(
            "Invalid value -7 for configuration log.retention.ms: Value must be at least -1 (it sets retention.ms for topics)"
        ));
        assert!(
            from_toml("\"log.retention.hours\" = -1").is_ok(),
            "-1 is unlimited in any unit"
        );
    }
}
