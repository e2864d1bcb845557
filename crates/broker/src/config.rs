//! The broker's start-up settings. Kafka-named configs live in `statics`.

use std::path::PathBuf;

use crate::configs::StaticConfigs;

/// Kafka's `fetch.max.bytes` default (55 MiB) and least accepted value.
pub const FETCH_MAX_BYTES_DEFAULT: i64 = 55 * 1024 * 1024;
pub const FETCH_MAX_BYTES_MIN: i64 = 1024;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to bind, `host:port`; port 0 picks a free port.
    pub listen: String,
    /// Host and port given to clients in Metadata; defaults to the bound address.
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    pub data_dir: PathBuf,
    pub node_id: i32,
    /// Used only when the data dir is new; an existing one keeps its id.
    pub cluster_id: Option<String>,
    pub statics: StaticConfigs,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: "127.0.0.1:9092".into(),
            advertised_host: None,
            advertised_port: None,
            data_dir: PathBuf::from("./fjord-data"),
            node_id: 1,
            cluster_id: None,
            statics: StaticConfigs::default(),
        }
    }
}

impl BrokerConfig {
    /// A broker on an ephemeral loopback port with its data in `data_dir`.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.into(),
            ..BrokerConfig::default()
        }
    }

    /// Sets a Kafka-named broker config.
    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.statics
            .values
            .insert(name.to_string(), value.to_string());
        self
    }

    pub fn num_partitions(&self) -> i32 {
        self.statics
            .get_i64("num.partitions", 1)
            .clamp(1, i32::MAX as i64) as i32
    }

    pub fn auto_create_topics(&self) -> bool {
        self.statics.get_bool("auto.create.topics.enable", true)
    }

    pub fn socket_request_max_bytes(&self) -> usize {
        self.statics
            .get_i64("socket.request.max.bytes", 104_857_600)
            .max(1024) as usize
    }

    /// Kafka's `fetch.max.bytes`: the most record bytes one Fetch response
    /// carries (the first batch may exceed it). Kafka refuses values below 1024.
    pub fn fetch_max_bytes(&self) -> i32 {
        self.statics
            .get_i64("fetch.max.bytes", FETCH_MAX_BYTES_DEFAULT)
            .clamp(FETCH_MAX_BYTES_MIN, i64::from(i32::MAX)) as i32
    }

    pub fn retention_check_interval_ms(&self) -> u64 {
        self.statics
            .get_i64("log.retention.check.interval.ms", 300_000)
            .max(10) as u64
    }

    pub fn delete_topic_enable(&self) -> bool {
        self.statics.get_bool("delete.topic.enable", true)
    }
}
