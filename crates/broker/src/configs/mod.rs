//! The config registry: every broker, topic and group config Kafka defines,
//! by Kafka name (the generated `kafka` table: type, default, validator,
//! documentation, read-only or dynamic), what Fjord does with each
//! (`support`), and the typed field each honoured one feeds (`fields`,
//! `startup`; `resolve::log_config` for topics). `resolve` turns the configs
//! set at start-up and on a topic into effective values.

use kafka_protocol::error::ResponseError;

use crate::error::{ApiError, ApiResult};

mod fields;
mod kafka;
mod kafka_def;
mod listeners;
mod resolve;
mod startup;
mod support;

pub use fields::BrokerSettings;
pub use kafka::KAFKA_VERSION;
pub use kafka_def::{KafkaConfigDef, Kind, Update, Validator};
pub use listeners::{split_listener_override, ListenerConfig};
pub use resolve::{ConfigSource, ResolvedConfig, StaticConfigs};
pub use startup::Identity;
pub use support::Support;

/// One config: Kafka's definition and Fjord's answer to it.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub kafka: &'static KafkaConfigDef,
    pub support: Support,
}

/// Where Fjord's default differs from Kafka's: it serves on loopback and
/// keeps its data beside it when nothing is configured.
const FJORD_DEFAULTS: &[(&str, &str)] = &[
    ("node.id", "1"),
    ("broker.id", "1"),
    ("listeners", "PLAINTEXT://127.0.0.1:9092"),
    ("log.dirs", "./fjord-data"),
    // Kafka's is GSSAPI, which Fjord does not serve.
    ("sasl.enabled.mechanisms", "PLAIN"),
];

/// For a Kafka name that no rule in `support` covers (a test keeps this empty).
const UNREVIEWED: Support = Support::NoEffect("not reviewed for Fjord yet");

impl ConfigDef {
    pub fn name(&self) -> &'static str {
        self.kafka.name
    }

    /// The default in force here: Kafka's, unless Fjord's differs.
    pub fn default(&self) -> Option<&'static str> {
        FJORD_DEFAULTS
            .iter()
            .find(|(name, _)| *name == self.kafka.name)
            .map(|(_, value)| *value)
            .or(self.kafka.default)
    }

    /// DescribeConfigs documentation: what Fjord does not honour first, then Kafka's.
    pub fn documentation(&self) -> String {
        match self.support.note() {
            Some(note) => format!("{note} {}", self.kafka.doc),
            None => self.kafka.doc.to_string(),
        }
    }

    /// Kafka's checks, then Fjord's: the error says which refused it. A
    /// broker config standing in for a topic config becomes that topic
    /// config's default, so it must also be a value the topic config takes.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let name = self.kafka.name;
        // Kafka never echoes a password's value, even a wrong one.
        let shown = if self.is_sensitive() {
            "[hidden]"
        } else {
            value
        };
        let invalid =
            |reason: String| format!("Invalid value {shown} for configuration {name}: {reason}");
        self.kafka.check(value).map_err(invalid)?;
        if let Some(topic_def) = topic_config_for_synonym(name).and_then(topic_config) {
            let as_topic = resolve::in_topic_unit(topic_def.kafka, name, value);
            topic_def.kafka.check(&as_topic).map_err(|reason| {
                invalid(format!(
                    "{reason} (it sets {} for topics)",
                    topic_def.name()
                ))
            })?;
        }
        self.support.check(name, value).map_err(|e| {
            if self.is_sensitive() {
                e.replace(value, "[hidden]")
            } else {
                e
            }
        })
    }

    /// Shown by DescribeConfigs without a value (Kafka's PASSWORD type).
    pub fn is_sensitive(&self) -> bool {
        self.kafka.kind == Kind::Password
    }
}

fn with_support(kafka: &'static KafkaConfigDef, support: fn(&str) -> Option<Support>) -> ConfigDef {
    ConfigDef {
        kafka,
        support: support(kafka.name).unwrap_or(UNREVIEWED),
    }
}

/// Every topic config Kafka defines, in the order its DescribeConfigs lists them.
pub fn topic_configs() -> impl Iterator<Item = ConfigDef> {
    kafka::TOPIC
        .iter()
        .map(|def| with_support(def, support::topic_support))
}

/// Every group config Kafka defines (per-group overrides), in Kafka's order.
pub fn group_configs() -> impl Iterator<Item = ConfigDef> {
    kafka::GROUP
        .iter()
        .map(|def| with_support(def, support::group_support))
}

pub fn group_config(name: &str) -> Option<ConfigDef> {
    group_configs().find(|def| def.name() == name)
}

/// Every broker config Kafka defines, in the order its DescribeConfigs lists them.
pub fn broker_configs() -> impl Iterator<Item = ConfigDef> {
    kafka::BROKER
        .iter()
        .map(|def| with_support(def, support::broker_support))
}

pub fn topic_config(name: &str) -> Option<ConfigDef> {
    topic_configs().find(|def| def.name() == name)
}

pub fn broker_config(name: &str) -> Option<ConfigDef> {
    broker_configs().find(|def| def.name() == name)
}

/// The topic config a broker config stands in for (log.retention.hours → retention.ms).
pub fn topic_config_for_synonym(broker_name: &str) -> Option<&'static str> {
    kafka::TOPIC
        .iter()
        .find(|def| def.synonyms.iter().any(|(name, _)| *name == broker_name))
        .map(|def| def.name)
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidConfig, message)
}

/// Checks one topic config: a name Kafka defines, a value Kafka takes and
/// Fjord can honour. The message says which of those failed.
pub fn validate_topic_config(name: &str, value: &str) -> ApiResult<()> {
    let def =
        topic_config(name).ok_or_else(|| invalid(format!("Unknown topic config name: {name}")))?;
    def.check(value).map_err(invalid)
}

/// Checks one broker config given at start-up, as `validate_topic_config`.
/// A config given for one listener (`listener.name.<listener>.<config>`) is
/// checked as the config it overrides.
pub fn validate_broker_config(name: &str, value: &str) -> Result<(), String> {
    // Kafka hands every broker config to its authorizer; these are the
    // authorizer's own, not declared by the broker.
    if crate::authorizer::AUTHORIZER_CONFIGS.contains(&name) {
        return match (name, value.trim().to_ascii_lowercase().as_str()) {
            ("allow.everyone.if.no.acl.found", "true" | "false") | ("super.users", _) => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: Expected value to be either \
                 true or false"
            )),
        };
    }
    // Fjord's own: a PLAIN user and its password hash, broker-wide or for
    // one listener (security/plain.rs).
    if crate::security::plain::user_config(name).is_some() {
        return crate::security::plain::check_user_config(name, value);
    }
    let def = broker_config_or_override(name).ok_or_else(|| {
        format!("Unknown broker config {name}: Kafka {KAFKA_VERSION} defines no such config")
    })?;
    def.check(value).map_err(|e| {
        if def.name() == name {
            e
        } else {
            format!("{e} (given as {name})")
        }
    })
}

/// The definition of a broker config, or of the one a per-listener name
/// overrides: `listener.name.<listener>.<config>`, or for SASL configs
/// (and `connections.max.reauth.ms`) also
/// `listener.name.<listener>.<mechanism>.<config>` (Kafka's
/// `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config`).
pub fn broker_config_or_override(name: &str) -> Option<ConfigDef> {
    let Some((_, config)) = split_listener_override(name) else {
        return broker_config(name);
    };
    broker_config(config).or_else(|| {
        let (_, sasl) = config.split_once('.')?;
        broker_config(sasl).filter(|def| {
            def.name().starts_with("sasl.") || def.name() == "connections.max.reauth.ms"
        })
    })
}

#[cfg(test)]
mod tests;
