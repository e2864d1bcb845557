//! DescribeConfigs (v1–v4) for topics and this broker, from the config
//! registry in `crate::configs`. Entries come in the order Kafka lists them;
//! asking for some names filters that list, as Kafka does, rather than
//! following the request's order.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::DescribeConfigs;
use crate::acl::ResourceType;
use crate::authorization;
use crate::authorizer::bindings::CLUSTER_NAME;
use crate::broker::Broker;
use crate::configs::{
    broker_configs, topic_config, topic_config_for_synonym, topic_configs, ConfigDef, ConfigSource,
    ResolvedConfig,
};
use crate::error::{ApiError, ApiResult};
use crate::request_context::RequestContext;
use crate::topics::validate_topic_name;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// What the request asks for beyond names and values.
#[derive(Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
}

/// One config entry before it becomes a wire struct.
struct Entry {
    def: ConfigDef,
    value: Option<String>,
    source: ConfigSource,
    read_only: bool,
    synonyms: Vec<ResolvedConfig>,
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = ctx.api_version;
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: version >= 3 && request.include_documentation,
    };
    let results = request
        .resources
        .iter()
        .map(|resource| describe(broker, ctx, resource, detail))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Kafka's config resource types beyond those served: their
/// DescribeConfigs permission is checked all the same.
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_GROUP: i8 = 32;

/// The ACL resource a config resource is authorized as (a broker is the
/// cluster), if Kafka authorizes it.
fn acl_resource(resource_type: i8, name: &str) -> Option<(ResourceType, &str)> {
    match resource_type {
        RESOURCE_TOPIC => Some((ResourceType::Topic, name)),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => Some((ResourceType::Cluster, CLUSTER_NAME)),
        RESOURCE_GROUP => Some((ResourceType::Group, name)),
        _ => None,
    }
}

fn describe(
    broker: &Broker,
    ctx: &RequestContext,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> DescribeConfigsResult {
    let version = ctx.api_version;
    let name = resource.resource_name.as_str();
    let denied = acl_resource(resource.resource_type, name).and_then(|(kind, acl_name)| {
        authorization::require(broker, ctx, DescribeConfigs, kind, acl_name).err()
    });
    let entries = match (denied, resource.resource_type) {
        (Some(code), _) => Err(ApiError::new(code, code.to_string())),
        (None, RESOURCE_TOPIC) => topic_entries(broker, name),
        (None, RESOURCE_BROKER) => broker_entries(broker, name),
        (None, other) => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {other}"),
        )),
    };
    let base = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    match entries {
        Ok(entries) => {
            let wanted = resource
                .configuration_keys
                .as_ref()
                .filter(|k| !k.is_empty());
            let mut entries: Vec<Entry> = entries
                .into_iter()
                .filter(|e| wanted.is_none_or(|w| w.iter().any(|k| k.as_str() == e.def.name())))
                .collect();
            if wanted.is_some() {
                in_kafkas_filtered_order(&mut entries);
            }
            let configs = entries
                .into_iter()
                .map(|e| wire_entry(e, detail, version))
                .collect();
            // Kafka leaves the message at its default on success: "", not null.
            base.with_error_code(0)
                .with_error_message(Some(StrBytes::default()))
                .with_configs(configs)
        }
        Err(e) => base
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from(e.message))),
    }
}

/// Kafka 4.1 answers named configs in the iteration order of a Scala
/// mutable.HashMap it filters them into: by bucket, the low bits of the Java
/// String hash spread as java.util.HashMap spreads it, and within a bucket
/// in insertion order, which is its full list's order (ours too). Its full
/// list is already in that order, so only a filtered answer is re-sorted.
/// Clients that read the answer by position (KafkaJS) see what Kafka sends.
fn in_kafkas_filtered_order(entries: &mut [Entry]) {
    let buckets = scala_hash_table_size(entries.len());
    entries.sort_by_key(|e| spread_java_hash(e.def.name()) & (buckets - 1));
}

/// Scala 2.13's mutable.HashMap table size after `len` insertions: 16,
/// doubled whenever an insertion would reach three quarters of it.
fn scala_hash_table_size(len: usize) -> u32 {
    let mut size: u32 = 16;
    for inserted in 0..len {
        if inserted as u64 + 1 >= u64::from(size) * 3 / 4 {
            size = size.saturating_mul(2);
        }
    }
    size
}

fn spread_java_hash(name: &str) -> u32 {
    let hash = name
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    hash ^ (hash >> 16)
}

fn wire_entry(entry: Entry, detail: Detail, version: i16) -> DescribeConfigsResourceResult {
    let sensitive = entry.def.is_sensitive();
    let shown = |value: Option<String>| value.filter(|_| !sensitive).map(StrBytes::from);
    let synonyms = if detail.synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from(s.name))
                    .with_value(shown(s.value))
                    .with_source(s.source.wire_code())
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.def.name()))
        .with_value(shown(entry.value))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source.wire_code())
        .with_is_sensitive(sensitive)
        .with_synonyms(synonyms)
        .with_documentation(None);
    if version >= 3 {
        result = result.with_config_type(entry.def.kafka.kind.wire_code());
        if detail.documentation {
            result = result.with_documentation(Some(StrBytes::from(entry.def.documentation())));
        }
    }
    result
}

fn topic_entries(broker: &Broker, name: &str) -> ApiResult<Vec<Entry>> {
    validate_topic_name(name)?;
    let topic = broker.topics.get(name).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let statics = broker.topics.statics();
    Ok(topic_configs()
        // Kafka lists an internal config only where it is set.
        .filter(|def| !def.kafka.internal || topic.configs.contains_key(def.name()))
        .map(|def| {
            let (value, _) = statics.topic_value(&def, &topic.configs);
            let synonyms = statics.topic_config_chain(&def, &topic.configs);
            Entry {
                def,
                value,
                source: chain_source(&synonyms),
                read_only: false,
                synonyms,
            }
        })
        .collect())
}

fn broker_entries(broker: &Broker, name: &str) -> ApiResult<Vec<Entry>> {
    if name.is_empty() {
        // The cluster-wide dynamic defaults, as Kafka answers them: none can
        // be set here (there is no AlterConfigs), so none are listed.
        return Ok(Vec::new());
    }
    if name != broker.node_id().to_string() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                broker.node_id()
            ),
        ));
    }
    let statics = broker.topics.statics();
    Ok(broker_configs()
        .filter(|def| !def.kafka.internal || statics.values.contains_key(def.name()))
        .map(|def| broker_entry(broker, def))
        .collect())
}

fn broker_entry(broker: &Broker, def: ConfigDef) -> Entry {
    let config = &broker.config;
    let statics = broker.topics.statics();
    let actual = match def.name() {
        "node.id" | "broker.id" => Some(broker.node_id().to_string()),
        "listeners" => Some(
            config
                .listeners
                .iter()
                .map(|l| format!("{}://{}", l.name, l.bind))
                .collect::<Vec<_>>()
                .join(","),
        ),
        "advertised.listeners" => Some(
            broker
                .cluster
                .local()
                .endpoints
                .iter()
                .map(|e| format!("{}://{}", e.listener, host_port(&e.host, e.port)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        "log.dirs" => Some(config.data_dir.display().to_string()),
        _ => None,
    };
    let own = |value: Option<String>, source| ResolvedConfig {
        name: def.name().into(),
        value,
        source,
    };
    // Read-only: nothing here alters broker configs at run time.
    let entry = |value, source, synonyms| Entry {
        def,
        value,
        source,
        read_only: true,
        synonyms,
    };
    if let Some(value) = actual {
        // Given under this name or Kafka's other name for the same thing.
        let given = match def.name() {
            "node.id" | "broker.id" => &["node.id", "broker.id"][..],
            "log.dirs" => &["log.dirs", "log.dir"][..],
            name => &[name][..],
        };
        let source = if given.iter().any(|name| statics.values.contains_key(*name)) {
            ConfigSource::StaticBroker
        } else {
            ConfigSource::Default
        };
        let synonyms = vec![own(Some(value.clone()), source)];
        return entry(Some(value), source, synonyms);
    }
    if let Some(topic_def) = topic_config_for_synonym(def.name()).and_then(topic_config) {
        return synonym_entry(broker, def, topic_def);
    }
    let (value, source) = statics.broker_value_or_default(&def);
    let mut synonyms = vec![own(value.clone(), source)];
    if source != ConfigSource::Default {
        synonyms.push(own(
            def.default().map(str::to_string),
            ConfigSource::Default,
        ));
    }
    entry(value, source, synonyms)
}

/// Kafka reports a config's source as its first synonym's, and DEFAULT
/// when it lists none (retention.ms with only log.retention.hours set is a
/// DEFAULT_CONFIG of 86400000 in Kafka 4.1).
pub(crate) fn chain_source(synonyms: &[ResolvedConfig]) -> ConfigSource {
    synonyms.first().map_or(ConfigSource::Default, |s| s.source)
}

/// A broker config standing in for a topic config: its own value (static,
/// else its default, null for log.retention.ms and log.roll.ms), and the
/// synonyms from its own name on.
fn synonym_entry(broker: &Broker, def: ConfigDef, topic_def: ConfigDef) -> Entry {
    let statics = broker.topics.statics();
    let (value, source) = statics.broker_value_or_default(&def);
    Entry {
        def,
        value,
        source,
        read_only: true,
        synonyms: statics.broker_chain(&topic_def, def.name()),
    }
}

/// `host:port`, with an IPv6 address in brackets as listener lists write it.
fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
