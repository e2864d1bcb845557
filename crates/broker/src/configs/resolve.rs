//! Effective values: a topic config resolves to the topic's override, then
//! the static broker config standing in for it, then the default; a broker
//! config to its static value, then the default.

use std::collections::BTreeMap;

use fjord_storage::{LogConfig, TimestampType};

use super::kafka_def::KafkaConfigDef;
use super::{topic_config, ConfigDef, Support};

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
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// The static broker configs given at start-up (Kafka names → values).
#[derive(Debug, Clone, Default)]
pub struct StaticConfigs {
    pub values: BTreeMap<String, String>,
}

/// The broker config Kafka names as a topic config's default, in its unit:
/// the coarsest unit that holds the default exactly (retention.ms defaults
/// through log.retention.hours=168, as Kafka lists it).
fn default_synonym(def: &ConfigDef) -> (String, Option<String>) {
    let default: Option<i64> = def.default().and_then(|d| d.parse().ok());
    let coarsest = def
        .kafka
        .synonyms
        .iter()
        .filter(|(_, factor)| *factor > 1)
        .filter(|(_, factor)| default.is_some_and(|d| d >= 0 && d % factor == 0))
        .max_by_key(|(_, factor)| *factor);
    match (coarsest, default) {
        (Some((name, factor)), Some(d)) => (name.to_string(), Some((d / factor).to_string())),
        _ => (
            def.kafka
                .synonyms
                .first()
                .map_or(def.name(), |(name, _)| name)
                .to_string(),
            def.default().map(str::to_string),
        ),
    }
}

/// A broker synonym's value in its topic config's unit (log.retention.hours=2
/// is retention.ms=7200000). A negative value is not scaled: -1 means
/// unlimited in every unit, and any other is refused as the topic config's.
pub(super) fn in_topic_unit(topic: &KafkaConfigDef, synonym: &str, value: &str) -> String {
    let factor = topic
        .synonyms
        .iter()
        .find(|(name, _)| *name == synonym)
        .map_or(1, |(_, factor)| *factor);
    match value.trim().parse::<i64>() {
        Ok(number) if factor != 1 && number >= 0 => number.saturating_mul(factor).to_string(),
        _ => value.to_string(),
    }
}

impl StaticConfigs {
    /// A broker config's value as set, else the registry's default,
    /// trimmed; None when neither gives one or it is blank.
    pub fn effective(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .map(String::as_str)
            .or_else(|| super::broker_config(name).and_then(|def| def.default()))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The broker-level value standing in for a topic config, scaled to the
    /// topic config's unit, with the synonym it came from.
    pub fn broker_value(&self, def: &ConfigDef) -> Option<(String, &'static str)> {
        def.kafka.synonyms.iter().find_map(|(name, _)| {
            let raw = self.values.get(*name)?;
            Some((in_topic_unit(def.kafka, name, raw), *name))
        })
    }

    /// Every resolution step for a topic config, most specific first
    /// (DescribeConfigs synonyms): its own override, then the broker's
    /// synonyms as [`Self::broker_chain`] lists them from the most specific
    /// one on.
    pub fn topic_config_chain(
        &self,
        def: &ConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ResolvedConfig> {
        let mut chain = Vec::new();
        if let Some(value) = overrides.get(def.name()) {
            chain.push(ResolvedConfig {
                name: def.name().into(),
                value: Some(value.clone()),
                source: ConfigSource::Topic,
            });
        }
        if let Some((most_specific, _)) = def.kafka.synonyms.first() {
            chain.extend(self.broker_chain(def, most_specific));
        }
        chain
    }

    /// The broker configs standing in for a topic config, as Kafka lists
    /// them: those set statically, then the one whose default applies,
    /// starting at the first entry named `from`. Kafka drops every entry
    /// before that one, so with only log.retention.hours set, retention.ms
    /// (from log.retention.ms) lists none at all while log.retention.hours
    /// lists itself twice (static, default); Kafka 4.1 answers so.
    pub fn broker_chain(&self, def: &ConfigDef, from: &str) -> Vec<ResolvedConfig> {
        let mut chain = Vec::new();
        for (name, _) in def.kafka.synonyms {
            if let Some(raw) = self.values.get(*name) {
                chain.push(ResolvedConfig {
                    name: name.to_string(),
                    value: Some(raw.clone()),
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
        chain.into_iter().skip_while(|c| c.name != from).collect()
    }

    /// The effective value of a topic config and its source.
    pub fn topic_value(
        &self,
        def: &ConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> (Option<String>, ConfigSource) {
        if let Some(value) = overrides.get(def.name()) {
            return (Some(value.clone()), ConfigSource::Topic);
        }
        if let Some((value, _)) = self.broker_value(def) {
            return (Some(value), ConfigSource::StaticBroker);
        }
        (def.default().map(str::to_string), ConfigSource::Default)
    }

    /// The broker config's own value: static if set, else the default.
    pub fn broker_value_or_default(&self, def: &ConfigDef) -> (Option<String>, ConfigSource) {
        match self.values.get(def.name()) {
            Some(v) => (Some(v.clone()), ConfigSource::StaticBroker),
            None => (def.default().map(str::to_string), ConfigSource::Default),
        }
    }

    /// The storage settings for a topic with these overrides. Values were
    /// validated when set; anything unparsable falls back to the default.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let mut config = LogConfig::default();
        let get = |name: &str| -> Option<String> {
            let def = topic_config(name)?;
            debug_assert_eq!(def.support, Support::Honoured, "{name}");
            self.topic_value(&def, overrides).0
        };
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<i64>().ok());
        // Kafka's testing-only override of segment.bytes, which may go below
        // segment.bytes' 1 MiB minimum.
        if let Some(v) = num("internal.segment.bytes").or_else(|| num("segment.bytes")) {
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
        // A broker config, the same for every partition's log.
        if let Ok(v) = super::fields::typed::<i32>(self, "producer.id.expiration.ms") {
            config.producer_id_expiration_ms = i64::from(v);
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

    /// The configs set here that Fjord does not fully honour, each with the
    /// sentence that says so (logged once at start-up).
    pub fn not_honoured(&self) -> Vec<(&str, &str, String)> {
        self.values
            .iter()
            .filter_map(|(name, value)| {
                let def = super::broker_config(name)?;
                let note = def.support.note()?;
                // Never a secret in a log line.
                let value = if def.is_sensitive() {
                    "[hidden]"
                } else {
                    value.as_str()
                };
                Some((name.as_str(), value, note))
            })
            .collect()
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
            .and_then(|v| v.trim().to_ascii_lowercase().parse().ok())
            .unwrap_or(default)
    }
}
