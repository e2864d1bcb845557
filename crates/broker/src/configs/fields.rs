//! The typed field each honoured broker config feeds, declared once: the
//! Kafka name, its type here, and (through the registry) its default and
//! validator. `BrokerSettings::from_statics` is the one place those values
//! are parsed; every reader takes the typed field.

use super::{broker_config, StaticConfigs};

/// A config value's type as Fjord reads it.
pub trait ConfigValue: Sized {
    /// `raw` is the value set, or the registry's default; None when neither.
    fn parse(raw: Option<&str>) -> Result<Self, String>;
}

fn number<T: std::str::FromStr>(raw: Option<&str>, kafka_type: &str) -> Result<T, String> {
    let raw = raw.ok_or("has no default value")?;
    raw.trim()
        .parse()
        .map_err(|_| format!("Not a number of type {kafka_type}"))
}

impl ConfigValue for i64 {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        number(raw, "LONG")
    }
}

impl ConfigValue for i32 {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        number(raw, "INT")
    }
}

impl ConfigValue for bool {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let raw = raw.ok_or("has no default value")?;
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("Expected value to be either true or false".to_string()),
        }
    }
}

impl ConfigValue for String {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        Ok(raw.unwrap_or_default().trim().to_string())
    }
}

/// The value of one honoured config, typed.
pub(super) fn typed<T: ConfigValue>(
    statics: &StaticConfigs,
    name: &'static str,
) -> Result<T, String> {
    let def = broker_config(name).ok_or_else(|| format!("{name} is not a Kafka broker config"))?;
    let raw = statics.values.get(name).map(String::as_str);
    let shown = raw.or(def.default()).unwrap_or("null");
    T::parse(raw.or(def.default()))
        .map_err(|reason| format!("Invalid value {shown} for configuration {name}: {reason}"))
}

macro_rules! broker_settings {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $name:literal, )*) => {
        /// Every broker config Fjord honours through a plain typed value.
        /// Where the broker listens, keeps its data and who it is come from
        /// `startup::Identity` instead, as they need more than a parse.
        #[derive(Debug, Clone, PartialEq)]
        pub struct BrokerSettings {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        /// The Kafka names `BrokerSettings` reads.
        pub(super) const SETTINGS_NAMES: &[&str] = &[$($name),*];

        impl BrokerSettings {
            /// Values set, else the registry's default, each parsed as its field's type.
            pub fn from_statics(statics: &StaticConfigs) -> Result<Self, String> {
                Ok(BrokerSettings {
                    $( $field: typed(statics, $name)?, )*
                })
            }
        }
    };
}

broker_settings! {
    num_partitions: i32 = "num.partitions",
    auto_create_topics_enable: bool = "auto.create.topics.enable",
    socket_request_max_bytes: i32 = "socket.request.max.bytes",
    /// The most record bytes one Fetch response carries (the first batch may exceed it).
    fetch_max_bytes: i32 = "fetch.max.bytes",
    max_connections: i32 = "max.connections",
    max_connections_per_ip: i32 = "max.connections.per.ip",
    max_connections_per_ip_overrides: String = "max.connections.per.ip.overrides",
    connections_max_idle_ms: i64 = "connections.max.idle.ms",
    log_retention_check_interval_ms: i64 = "log.retention.check.interval.ms",
    delete_topic_enable: bool = "delete.topic.enable",
    group_initial_rebalance_delay_ms: i32 = "group.initial.rebalance.delay.ms",
    group_min_session_timeout_ms: i32 = "group.min.session.timeout.ms",
    group_max_session_timeout_ms: i32 = "group.max.session.timeout.ms",
    group_max_size: i32 = "group.max.size",
    offsets_retention_minutes: i32 = "offsets.retention.minutes",
    offsets_retention_check_interval_ms: i64 = "offsets.retention.check.interval.ms",
    offset_metadata_max_bytes: i32 = "offset.metadata.max.bytes",
    transaction_max_timeout_ms: i32 = "transaction.max.timeout.ms",
    transactional_id_expiration_ms: i32 = "transactional.id.expiration.ms",
    transaction_abort_timed_out_transaction_cleanup_interval_ms: i32 =
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    transaction_remove_expired_transaction_cleanup_interval_ms: i32 =
        "transaction.remove.expired.transaction.cleanup.interval.ms",
    /// Fed to every partition's log (`StaticConfigs::log_config`).
    producer_id_expiration_ms: i32 = "producer.id.expiration.ms",
}

impl Default for BrokerSettings {
    /// Every field at the registry's default (each honoured config has one;
    /// a test checks it).
    fn default() -> Self {
        match BrokerSettings::from_statics(&StaticConfigs::default()) {
            Ok(settings) => settings,
            Err(reason) => panic!("the config registry's defaults do not parse: {reason}"),
        }
    }
}
