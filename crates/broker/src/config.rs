//! The broker's start-up settings. Kafka-named configs live in `statics`;
//! `resolve` checks every one against the registry and derives the typed
//! fields from them, so nothing the broker does comes from anywhere else.

use std::path::PathBuf;

use crate::configs::{
    validate_broker_config, BrokerSettings, Identity, ListenerConfig, StaticConfigs,
};

/// A config the registry refused, with a message naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The Kafka-named configs given (`listeners`, `log.dirs`, `num.partitions`…).
    pub statics: StaticConfigs,
    /// Used only when the data dir is new; an existing one keeps its id.
    pub cluster_id: Option<String>,
    /// Derived from `statics` by `resolve`: every listener to bind, each
    /// with its name, security protocol and advertised address.
    pub listeners: Vec<ListenerConfig>,
    pub data_dir: PathBuf,
    pub node_id: i32,
    /// Every other honoured broker config, typed.
    pub settings: BrokerSettings,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let mut config = BrokerConfig {
            statics: StaticConfigs::default(),
            cluster_id: None,
            listeners: Vec::new(),
            data_dir: PathBuf::new(),
            node_id: 0,
            settings: BrokerSettings::default(),
        };
        if let Err(e) = config.resolve() {
            panic!("the config registry's defaults do not resolve: {e}");
        }
        config
    }
}

impl BrokerConfig {
    /// A broker on an ephemeral loopback port with its data in `data_dir`.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir: PathBuf = data_dir.into();
        BrokerConfig::default()
            .with("listeners", "PLAINTEXT://127.0.0.1:0")
            .with("log.dirs", data_dir.display())
    }

    /// Sets a Kafka-named broker config; `resolve` (which `start` runs)
    /// checks it and applies it.
    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.statics
            .values
            .insert(name.to_string(), value.to_string());
        self
    }

    /// Checks every config set against the registry and derives the typed
    /// fields from them. The error names the config refused.
    pub fn resolve(&mut self) -> Result<(), InvalidConfig> {
        for (name, value) in &self.statics.values {
            validate_broker_config(name, value).map_err(InvalidConfig)?;
        }
        let identity = Identity::from_statics(&self.statics).map_err(InvalidConfig)?;
        self.settings = BrokerSettings::from_statics(&self.statics).map_err(InvalidConfig)?;
        self.listeners = identity.listeners;
        self.data_dir = identity.data_dir;
        self.node_id = identity.node_id;
        Ok(())
    }

    pub fn num_partitions(&self) -> i32 {
        self.settings.num_partitions.max(1)
    }

    pub fn auto_create_topics(&self) -> bool {
        self.settings.auto_create_topics_enable
    }

    /// Below 1 KiB not even a Metadata request fits.
    pub fn socket_request_max_bytes(&self) -> usize {
        self.settings.socket_request_max_bytes.max(1024) as usize
    }

    /// Kafka's `fetch.max.bytes`: the most record bytes one Fetch response
    /// carries (the first batch may exceed it).
    pub fn fetch_max_bytes(&self) -> i32 {
        self.settings.fetch_max_bytes
    }

    /// At least 10 ms, so that a retention pass cannot spin.
    pub fn retention_check_interval_ms(&self) -> u64 {
        self.settings.log_retention_check_interval_ms.max(10) as u64
    }

    pub fn delete_topic_enable(&self) -> bool {
        self.settings.delete_topic_enable
    }
}
