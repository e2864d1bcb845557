//! The configs Fjord honours, by Kafka name, and how a topic's effective
//! value is resolved: topic override, then static broker config, then default.

use std::collections::BTreeMap;

use fjord_storage::{LogConfig, TimestampType};
use kafka_protocol::error::ResponseError;

use crate::error::{ApiError, ApiResult};

mod kafka;
pub mod kafka_def;

pub use kafka::KAFKA_VERSION;
use kafka_def::KafkaConfigDef;

/// A topic config as Kafka defines it.
pub fn kafka_topic_config(name: &str) -> Option<&'static KafkaConfigDef> {
    kafka::TOPIC.iter().find(|def| def.name == name)
}

/// A broker config as Kafka defines it.
pub fn kafka_broker_config(name: &str) -> Option<&'static KafkaConfigDef> {
    kafka::BROKER.iter().find(|def| def.name == name)
}

/// Every broker config name Kafka defines.
pub fn kafka_broker_names() -> impl Iterator<Item = &'static str> {
    kafka::BROKER.iter().map(|def| def.name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    Int,
    Long,
    String,
    List,
}

impl ConfigType {
    /// DescribeConfigs v3+ `config_type` codes.
    pub fn wire_code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::List => 7,
        }
    }
}

/// A broker config that stands in for a topic config, with the factor that
/// turns its unit into the topic config's (log.retention.hours → ms).
pub struct BrokerSynonym {
    pub name: &'static str,
    pub factor: i64,
}

pub struct TopicConfigDef {
    pub name: &'static str,
    pub config_type: ConfigType,
    pub default: &'static str,
    /// Most specific first, as Kafka lists them.
    pub synonyms: &'static [BrokerSynonym],
    /// When set, the only values accepted.
    pub allowed: &'static [&'static str],
    pub min: i64,
    pub doc: &'static str,
}

const fn syn(name: &'static str, factor: i64) -> BrokerSynonym {
    BrokerSynonym { name, factor }
}

pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        config_type: ConfigType::List,
        default: "delete",
        synonyms: &[syn("log.cleanup.policy", 1)],
        // Compaction is not built yet: refusing it beats silently not compacting.
        allowed: &["delete"],
        min: 0,
        doc: "Retention policy for old log segments.",
    },
    TopicConfigDef {
        name: "compression.type",
        config_type: ConfigType::String,
        default: "producer",
        synonyms: &[syn("compression.type", 1)],
        // Batches are stored as produced; recompression is not built.
        allowed: &["producer"],
        min: 0,
        doc: "Final compression type for a topic.",
    },
    TopicConfigDef {
        name: "retention.ms",
        config_type: ConfigType::Long,
        default: "604800000",
        synonyms: &[
            syn("log.retention.ms", 1),
            syn("log.retention.minutes", 60_000),
            syn("log.retention.hours", 3_600_000),
        ],
        allowed: &[],
        min: -1,
        doc: "How long a segment is kept before it is deleted; -1 keeps forever.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        config_type: ConfigType::Long,
        default: "-1",
        synonyms: &[syn("log.retention.bytes", 1)],
        allowed: &[],
        min: -1,
        doc: "Maximum size of a partition before old segments are deleted; -1 is unlimited.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        config_type: ConfigType::Int,
        default: "1073741824",
        synonyms: &[syn("log.segment.bytes", 1)],
        allowed: &[],
        min: 14,
        doc: "Segment file size.",
    },
    TopicConfigDef {
        name: "segment.ms",
        config_type: ConfigType::Long,
        default: "604800000",
        synonyms: &[syn("log.roll.ms", 1), syn("log.roll.hours", 3_600_000)],
        allowed: &[],
        min: 1,
        doc: "Time after which a segment is rolled even if not full.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        config_type: ConfigType::Int,
        default: "1048588",
        synonyms: &[syn("message.max.bytes", 1)],
        allowed: &[],
        min: 0,
        doc: "Largest record batch size allowed.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        config_type: ConfigType::String,
        default: "CreateTime",
        synonyms: &[syn("log.message.timestamp.type", 1)],
        allowed: &["CreateTime", "LogAppendTime"],
        min: 0,
        doc: "Whether record timestamps are the producer's or the broker's append time.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        config_type: ConfigType::Int,
        default: "4096",
        synonyms: &[syn("log.index.interval.bytes", 1)],
        allowed: &[],
        min: 0,
        doc: "Bytes between offset index entries.",
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        config_type: ConfigType::Int,
        default: "10485760",
        synonyms: &[syn("log.index.size.max.bytes", 1)],
        allowed: &[],
        min: 4,
        doc: "Maximum size of a segment's offset index.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        config_type: ConfigType::Int,
        default: "1",
        synonyms: &[syn("min.insync.replicas", 1)],
        allowed: &[],
        min: 1,
        doc: "Replicas that must acknowledge an acks=all write (one replica here).",
    },
];

pub struct BrokerConfigDef {
    pub name: &'static str,
    pub config_type: ConfigType,
    pub default: &'static str,
}

/// Broker-level configs that are not synonyms of a topic config.
pub const BROKER_CONFIGS: &[BrokerConfigDef] = &[
    BrokerConfigDef {
        name: "node.id",
        config_type: ConfigType::Int,
        default: "1",
    },
    BrokerConfigDef {
        name: "broker.id",
        config_type: ConfigType::Int,
        default: "1",
    },
    BrokerConfigDef {
        name: "listeners",
        config_type: ConfigType::List,
        default: "PLAINTEXT://127.0.0.1:9092",
    },
    BrokerConfigDef {
        name: "advertised.listeners",
        config_type: ConfigType::List,
        default: "",
    },
    BrokerConfigDef {
        name: "log.dirs",
        config_type: ConfigType::List,
        default: "./fjord-data",
    },
    BrokerConfigDef {
        name: "num.partitions",
        config_type: ConfigType::Int,
        default: "1",
    },
    BrokerConfigDef {
        name: "auto.create.topics.enable",
        config_type: ConfigType::Boolean,
        default: "true",
    },
    BrokerConfigDef {
        name: "default.replication.factor",
        config_type: ConfigType::Int,
        default: "1",
    },
    BrokerConfigDef {
        name: "socket.request.max.bytes",
        config_type: ConfigType::Int,
        default: "104857600",
    },
    BrokerConfigDef {
        name: "fetch.max.bytes",
        config_type: ConfigType::Int,
        default: "57671680",
    },
    BrokerConfigDef {
        name: "log.retention.check.interval.ms",
        config_type: ConfigType::Long,
        default: "300000",
    },
    BrokerConfigDef {
        name: "delete.topic.enable",
        config_type: ConfigType::Boolean,
        default: "true",
    },
    BrokerConfigDef {
        name: "group.initial.rebalance.delay.ms",
        config_type: ConfigType::Int,
        default: "3000",
    },
    BrokerConfigDef {
        name: "group.min.session.timeout.ms",
        config_type: ConfigType::Int,
        default: "6000",
    },
    BrokerConfigDef {
        name: "group.max.session.timeout.ms",
        config_type: ConfigType::Int,
        default: "1800000",
    },
    BrokerConfigDef {
        name: "group.max.size",
        config_type: ConfigType::Int,
        default: "2147483647",
    },
    BrokerConfigDef {
        name: "offsets.retention.minutes",
        config_type: ConfigType::Int,
        default: "10080",
    },
    BrokerConfigDef {
        name: "offsets.retention.check.interval.ms",
        config_type: ConfigType::Long,
        default: "600000",
    },
    BrokerConfigDef {
        name: "offset.metadata.max.bytes",
        config_type: ConfigType::Int,
        default: "4096",
    },
    // Connection limits: read and checked in connection_quotas.rs.
    BrokerConfigDef {
        name: "max.connections",
        config_type: ConfigType::Int,
        default: "2147483647",
    },
    BrokerConfigDef {
        name: "max.connections.per.ip",
        config_type: ConfigType::Int,
        default: "2147483647",
    },
    BrokerConfigDef {
        name: "max.connections.per.ip.overrides",
        config_type: ConfigType::String,
        default: "",
    },
    BrokerConfigDef {
        name: "connections.max.idle.ms",
        config_type: ConfigType::Long,
        default: "600000",
    },
];

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|def| def.name == name)
}

/// Every broker config name we know: the broker's own and the topic synonyms.
pub fn is_known_broker_config(name: &str) -> bool {
    kafka_broker_config(name).is_some()
        || BROKER_CONFIGS.iter().any(|def| def.name == name)
        || TOPIC_CONFIGS
            .iter()
            .any(|def| def.synonyms.iter().any(|s| s.name == name))
}

/// Checks a broker config given at start-up: a name Kafka defines, with a
/// value Kafka would take.
pub fn validate_broker_config(name: &str, value: &str) -> Result<(), String> {
    let Some(def) = kafka_broker_config(name) else {
        if is_known_broker_config(name) {
            return Ok(());
        }
        return Err(format!(
            "Unknown broker config {name}: Kafka {KAFKA_VERSION} defines no such config"
        ));
    };
    def.check(value)
        .map_err(|reason| format!("Invalid value {value} for configuration {name}: {reason}"))
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidConfig, message)
}

/// Checks one topic config value against its definition.
pub fn validate_topic_config(name: &str, value: &str) -> ApiResult<()> {
    let kafka_def = kafka_topic_config(name)
        .ok_or_else(|| invalid(format!("Unknown topic config name: {name}")))?;
    kafka_def.check(value).map_err(|reason| {
        invalid(format!(
            "Invalid value {value} for configuration {name}: {reason}"
        ))
    })?;
    match topic_config_def(name) {
        Some(def) => validate_value(def, value),
        // Known to Kafka, no effect here: accepted and kept.
        None => Ok(()),
    }
}

fn validate_value(def: &TopicConfigDef, value: &str) -> ApiResult<()> {
    if !def.allowed.is_empty() {
        let values: Vec<&str> = value.split(',').map(str::trim).collect();
        if values.iter().all(|v| def.allowed.contains(v)) {
            return Ok(());
        }
        // Kafka takes the value (checked before this): Fjord lacks what it asks for.
        return Err(invalid(format!(
            "Invalid value {value} for configuration {}: valid in Kafka but not supported by \
             Fjord yet; supported: {}",
            def.name,
            def.allowed.join(", ")
        )));
    }
    match def.config_type {
        ConfigType::Int | ConfigType::Long => {
            let parsed: i64 = value.trim().parse().map_err(|_| {
                invalid(format!(
                    "Invalid value {value} for configuration {}: not a number",
                    def.name
                ))
            })?;
            if def.config_type == ConfigType::Int && i32::try_from(parsed).is_err() {
                return Err(invalid(format!(
                    "Invalid value {value} for configuration {}: out of range",
                    def.name
                )));
            }
            if parsed < def.min {
                return Err(invalid(format!(
                    "Invalid value {value} for configuration {}: Value must be at least {}",
                    def.name, def.min
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The broker config Kafka names as a topic config's default, in its unit:
/// the coarsest unit that holds the default exactly (retention.ms defaults
/// through log.retention.hours=168, as Kafka lists it).
fn default_synonym(def: &TopicConfigDef) -> (String, String) {
    let default: Option<i64> = def.default.parse().ok();
    let coarsest = def
        .synonyms
        .iter()
        .filter(|syn| syn.factor > 1)
        .filter(|syn| default.is_some_and(|d| d >= 0 && d % syn.factor == 0))
        .max_by_key(|syn| syn.factor);
    match (coarsest, default) {
        (Some(syn), Some(d)) => (syn.name.to_string(), (d / syn.factor).to_string()),
        _ => (
            def.synonyms
                .first()
                .map_or(def.name, |s| s.name)
                .to_string(),
            def.default.to_string(),
        ),
    }
}

/// Where an effective config value came from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Topic,
    StaticBroker,
    Default,
}

impl ConfigSource {
    pub fn wire_code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
}

/// The static broker configs given at start-up (Kafka names → values).
#[derive(Debug, Clone, Default)]
pub struct StaticConfigs {
    pub values: BTreeMap<String, String>,
}

impl StaticConfigs {
    /// The broker-level value standing in for a topic config, scaled to the
    /// topic config's unit, with the synonym it came from.
    pub fn broker_value(&self, def: &TopicConfigDef) -> Option<(String, &'static str)> {
        def.synonyms.iter().find_map(|syn| {
            let raw = self.values.get(syn.name)?;
            let value = if syn.factor == 1 {
                raw.clone()
            } else {
                raw.trim()
                    .parse::<i64>()
                    .ok()?
                    .saturating_mul(syn.factor)
                    .to_string()
            };
            Some((value, syn.name))
        })
    }

    /// Every resolution step for a topic config, most specific first
    /// (DescribeConfigs synonyms).
    pub fn topic_config_chain(
        &self,
        def: &TopicConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ResolvedConfig> {
        let mut chain = Vec::new();
        if let Some(value) = overrides.get(def.name) {
            chain.push(ResolvedConfig {
                name: def.name.into(),
                value: value.clone(),
                source: ConfigSource::Topic,
            });
        }
        for syn in def.synonyms {
            if let Some(raw) = self.values.get(syn.name) {
                chain.push(ResolvedConfig {
                    name: syn.name.into(),
                    value: raw.clone(),
                    source: ConfigSource::StaticBroker,
                });
            }
        }
        let (name, value) = default_synonym(def);
        chain.push(ResolvedConfig {
            name,
            value,
            source: ConfigSource::Default,
        });
        chain
    }

    /// The effective value of a topic config and its source.
    pub fn topic_value(
        &self,
        def: &TopicConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> (String, ConfigSource) {
        if let Some(value) = overrides.get(def.name) {
            return (value.clone(), ConfigSource::Topic);
        }
        if let Some((value, _)) = self.broker_value(def) {
            return (value, ConfigSource::StaticBroker);
        }
        (def.default.into(), ConfigSource::Default)
    }

    /// The storage settings for a topic with these overrides. Values were
    /// validated when set; anything unparsable falls back to the default.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let mut config = LogConfig::default();
        let get = |name: &str| -> Option<String> {
            topic_config_def(name).map(|def| self.topic_value(def, overrides).0)
        };
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<i64>().ok());
        // Kafka's testing-only override of segment.bytes, which may go below
        // segment.bytes' 1 MiB minimum.
        let internal_segment_bytes = overrides
            .get("internal.segment.bytes")
            .and_then(|v| v.trim().parse::<i64>().ok());
        if let Some(v) = internal_segment_bytes.or_else(|| num("segment.bytes")) {
            config.segment_bytes = v.max(14) as u64;
        }
        if let Some(v) = num("segment.ms") {
            config.segment_ms = v;
        }
        if let Some(v) = num("retention.ms") {
            config.retention_ms = v;
        }
        if let Some(v) = num("retention.bytes") {
            config.retention_bytes = v;
        }
        if let Some(v) = num("max.message.bytes") {
            config.max_message_bytes = v.max(0) as usize;
        }
        if let Some(v) = num("index.interval.bytes") {
            config.index_interval_bytes = v.max(0) as usize;
        }
        if let Some(v) = num("segment.index.bytes") {
            config.segment_index_bytes = v.max(4) as usize;
        }
        if let Some(v) = get("message.timestamp.type") {
            config.timestamp_type = if v == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            };
        }
        config
    }

    pub fn broker_value_or_default(&self, def: &BrokerConfigDef) -> (String, ConfigSource) {
        match self.values.get(def.name) {
            Some(v) => (v.clone(), ConfigSource::StaticBroker),
            None => (def.default.into(), ConfigSource::Default),
        }
    }

    pub fn get_i64(&self, name: &str, default: i64) -> i64 {
        self.values
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    pub fn get_bool(&self, name: &str, default: bool) -> bool {
        self.values
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }
}
