//! Quota entities and keys as Kafka defines them (`ClientQuotaEntity`,
//! `QuotaConfig`), and the checks AlterClientQuotas makes on them
//! (Kafka's `ClientQuotaControlManager`).

use fjord_storage::quotas::QuotaEntity;
use kafka_protocol::protocol::StrBytes;

use super::QuotaError;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// How a key's value is typed in Kafka's `QuotaConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueType {
    Long,
    Double,
    Int,
}

/// The keys of user, client-id and user+client-id entities.
const CLIENT_KEYS: &[(&str, ValueType)] = &[
    (PRODUCER_BYTE_RATE, ValueType::Long),
    (CONSUMER_BYTE_RATE, ValueType::Long),
    (REQUEST_PERCENTAGE, ValueType::Double),
    (CONTROLLER_MUTATION_RATE, ValueType::Double),
];

/// The keys of IP entities.
const IP_KEYS: &[(&str, ValueType)] = &[(CONNECTION_CREATION_RATE, ValueType::Int)];

/// An entity as a request names it: `(type, name)` pairs, a null name
/// being the type's default. Later pairs of a type replace earlier ones,
/// as Kafka's request reads them into a map.
pub fn entity_of<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> QuotaEntity {
    pairs
        .into_iter()
        .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
        .collect()
}

/// Checks an entity's types, names and combination; returns the keys it
/// may carry. (An IP entity's name is checked by resolving it: `hosts.rs`.)
fn keys_for(entity: &QuotaEntity) -> Result<&'static [(&'static str, ValueType)], QuotaError> {
    if entity.is_empty() {
        return Err(QuotaError::invalid("Invalid empty client quota entity"));
    }
    for (entity_type, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(QuotaError::invalid(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(QuotaError::invalid(format!(
                "Empty {entity_type} not supported"
            )));
        }
    }
    let has = |t: &str| entity.contains_key(t);
    match (has(USER), has(CLIENT_ID), has(IP)) {
        (_, _, false) => Ok(CLIENT_KEYS),
        (false, false, true) => Ok(IP_KEYS),
        _ => Err(QuotaError::invalid(
            "Invalid quota entity combination, IP entity should not be combined with User or \
             ClientId",
        )),
    }
}

/// Checks an entity's types, names and their combination.
pub fn check_entity(entity: &QuotaEntity) -> Result<(), QuotaError> {
    keys_for(entity).map(|_| ())
}

/// Checks a value set on `key` of `entity`, as Kafka 4.1's controller
/// does: every quota greater than 0, integral ones whole and in range.
pub fn check_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<(), QuotaError> {
    let keys = keys_for(entity)?;
    let Some((_, value_type)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(QuotaError::invalid(format!(
            "Invalid configuration key {key}"
        )));
    };
    if !value.is_finite() {
        return Err(QuotaError::invalid(format!(
            "Configuration {key} must be a finite number"
        )));
    }
    if value <= 0.0 {
        return Err(QuotaError::invalid(format!(
            "Quota {key} must be greater than 0"
        )));
    }
    let limit = match value_type {
        ValueType::Double => return Ok(()),
        ValueType::Long => ("a LONG", i64::MAX as f64),
        ValueType::Int => ("an INT", f64::from(i32::MAX)),
    };
    if value > limit.1 {
        return Err(QuotaError::invalid(format!(
            "Proposed value for {key} is too large for {}.",
            limit.0
        )));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(QuotaError::invalid(format!(
            "{key} cannot be a fractional value."
        )));
    }
    Ok(())
}

/// Kafka's way of showing an entity in messages: `ClientQuotaEntity(entries={user=alice})`.
pub fn describe(entity: &QuotaEntity) -> String {
    let entries: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", entries.join(", "))
}

/// An entity as the `(type, name)` pairs responses list.
pub fn entity_parts(entity: QuotaEntity) -> impl Iterator<Item = (StrBytes, Option<StrBytes>)> {
    entity
        .into_iter()
        .map(|(t, n)| (StrBytes::from_string(t), n.map(StrBytes::from_string)))
}
