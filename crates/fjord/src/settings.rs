//! Settings from, in rising precedence: defaults, a TOML file, `FJORD_*`
//! environment variables, command-line flags. Broker and topic defaults use
//! Kafka's names (`num.partitions`, `log.retention.ms`, …).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use fjord_broker::configs::{broker_configs, validate_broker_config};
use fjord_broker::BrokerConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML file: `listen`, `data_dir`, `node_id`, `cluster_id`,
    /// `advertised_listener`, and Kafka-named broker configs as keys.
    #[arg(long, env = "FJORD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, host:port.
    #[arg(long, env = "FJORD_LISTEN")]
    pub listen: Option<String>,
    /// host:port announced to clients in Metadata.
    #[arg(long, env = "FJORD_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    /// Directory for logs and metadata.
    #[arg(long, env = "FJORD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "FJORD_NODE_ID")]
    pub node_id: Option<i32>,
    /// Cluster id for a new data dir.
    #[arg(long, env = "FJORD_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// A Kafka broker config, `name=value` (repeatable), e.g. `num.partitions=4`.
    #[arg(long = "override", value_name = "NAME=VALUE")]
    pub overrides: Vec<String>,
}

pub fn load(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        apply_toml(&mut config, &text).with_context(|| format!("in {}", path.display()))?;
    }
    for name in all_kafka_names() {
        let var = format!("FJORD_{}", name.replace(['.', '-'], "_").to_uppercase());
        if let Ok(value) = std::env::var(&var) {
            set_kafka_config(&mut config, name, value.trim())
                .with_context(|| format!("in {var}"))?;
        }
    }
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
    }
    if let Some(advertised) = &args.advertised_listener {
        set_advertised(&mut config, advertised)?;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(id) = args.node_id {
        config.node_id = id;
    }
    if let Some(id) = &args.cluster_id {
        config.cluster_id = Some(id.clone());
    }
    for item in &args.overrides {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--override wants name=value, got {item:?}");
        };
        set_kafka_config(&mut config, name.trim(), value.trim())?;
    }
    Ok(config)
}

fn all_kafka_names() -> impl Iterator<Item = &'static str> {
    broker_configs().map(|def| def.name())
}

fn set_kafka_config(config: &mut BrokerConfig, name: &str, value: &str) -> anyhow::Result<()> {
    validate_broker_config(name, value).map_err(anyhow::Error::msg)?;
    match name {
        "node.id" | "broker.id" => config.node_id = value.parse().context("node.id")?,
        "log.dirs" => {
            // One data dir for now; spreading partitions over several is not built.
            if value.contains(',') {
                bail!("{name}: only one data directory is supported, got {value:?}");
            }
            config.data_dir = PathBuf::from(value);
        }
        // Kafka's single-directory form; log.dirs wins when both are set.
        "log.dir" if !config.statics.values.contains_key("log.dirs") => {
            config.data_dir = PathBuf::from(value);
        }
        "listeners" => config.listen = value.trim_start_matches("PLAINTEXT://").to_string(),
        "advertised.listeners" => set_advertised(config, value.trim_start_matches("PLAINTEXT://"))?,
        _ => {}
    }
    config
        .statics
        .values
        .insert(name.to_string(), value.to_string());
    Ok(())
}

fn set_advertised(config: &mut BrokerConfig, host_port: &str) -> anyhow::Result<()> {
    let Some((host, port)) = host_port.rsplit_once(':') else {
        bail!("advertised listener must be host:port, got {host_port:?}");
    };
    config.advertised_host = Some(host.to_string());
    config.advertised_port = Some(
        port.parse()
            .with_context(|| format!("port in {host_port:?}"))?,
    );
    Ok(())
}

fn apply_toml(config: &mut BrokerConfig, text: &str) -> anyhow::Result<()> {
    let table: toml::Table = text.parse()?;
    for (key, value) in table {
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!("{key}: expected a string, integer or boolean, got {other}"),
        };
        match key.as_str() {
            "listen" => config.listen = text,
            "advertised_listener" => set_advertised(config, &text)?,
            "data_dir" => config.data_dir = PathBuf::from(text),
            "node_id" => config.node_id = text.parse().context("node_id")?,
            "cluster_id" => config.cluster_id = Some(text),
            name => set_kafka_config(config, name, &text)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_sets_own_keys_and_kafka_names() {
        let mut config = BrokerConfig::default();
        apply_toml(
            &mut config,
            "listen = \"127.0.0.1:19092\"\ndata_dir = \"/tmp/x\"\n\"num.partitions\" = 4\n\"auto.create.topics.enable\" = false\n",
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:19092");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.num_partitions(), 4);
        assert!(!config.auto_create_topics());
        assert!(apply_toml(&mut config, "\"no.such.config\" = 1").is_err());
    }

    #[test]
    fn fetch_max_bytes_has_kafkas_default_and_minimum() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.fetch_max_bytes(), 57_671_680);
        apply_toml(&mut config, "\"fetch.max.bytes\" = 2048").unwrap();
        assert_eq!(config.fetch_max_bytes(), 2048);
        assert!(apply_toml(&mut config, "\"fetch.max.bytes\" = 1023").is_err());
        assert!(apply_toml(&mut config, "\"fetch.max.bytes\" = 4294967296").is_err());
    }

    #[test]
    fn kafka_quick_start_names_are_taken_and_bad_values_refused() {
        let mut config = BrokerConfig::default();
        apply_toml(
            &mut config,
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
            set_kafka_config(&mut BrokerConfig::default(), name, value)
                .unwrap_err()
                .to_string()
        };
        assert!(error("zookeeper.connect", "x:2181").contains("no such config"));
        assert_eq!(
            error("offsets.topic.replication.factor", "0"),
            "Invalid value 0 for configuration offsets.topic.replication.factor: Value must be at least 1"
        );
        assert!(error("auto.create.topics.enable", "yes").contains("true or false"));
    }
}
