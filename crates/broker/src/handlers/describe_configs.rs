//! DescribeConfigs (v1–v4) for topics and this broker, built from the config
//! definitions in `crate::configs`.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::configs::{
    BrokerConfigDef, ConfigSource, ConfigType, ResolvedConfig, TopicConfigDef, BROKER_CONFIGS,
    TOPIC_CONFIGS,
};
use crate::error::{ApiError, ApiResult};
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
    name: String,
    value: String,
    source: ConfigSource,
    read_only: bool,
    synonyms: Vec<ResolvedConfig>,
    config_type: ConfigType,
    doc: Option<&'static str>,
}

pub async fn handle(
    broker: &Broker,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: version >= 3 && request.include_documentation,
    };
    let results = request
        .resources
        .iter()
        .map(|resource| describe(broker, resource, detail, version))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: &DescribeConfigsResource,
    detail: Detail,
    version: i16,
) -> DescribeConfigsResult {
    let name = resource.resource_name.as_str();
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => topic_entries(broker, name),
        RESOURCE_BROKER => broker_entries(broker, name),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {other}"),
        )),
    };
    let base = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    match entries {
        Ok(entries) => {
            let wanted: Option<BTreeSet<&str>> = match &resource.configuration_keys {
                Some(keys) if !keys.is_empty() => Some(keys.iter().map(|k| k.as_str()).collect()),
                _ => None,
            };
            let configs = entries
                .into_iter()
                .filter(|e| wanted.as_ref().is_none_or(|w| w.contains(e.name.as_str())))
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

fn wire_entry(entry: Entry, detail: Detail, version: i16) -> DescribeConfigsResourceResult {
    let synonyms = if detail.synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from(s.name))
                    .with_value(Some(StrBytes::from(s.value)))
                    .with_source(s.source.wire_code())
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from(entry.name))
        .with_value(Some(StrBytes::from(entry.value)))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source.wire_code())
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_documentation(None);
    if version >= 3 {
        result = result.with_config_type(entry.config_type.wire_code());
        if detail.documentation {
            result = result.with_documentation(entry.doc.map(StrBytes::from_static_str));
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
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = statics.topic_value(def, &topic.configs);
            Entry {
                name: def.name.to_string(),
                value,
                source,
                read_only: false,
                synonyms: statics.topic_config_chain(def, &topic.configs),
                config_type: def.config_type,
                doc: Some(def.doc),
            }
        })
        .collect())
}

fn broker_entries(broker: &Broker, name: &str) -> ApiResult<Vec<Entry>> {
    if !name.is_empty() && name != broker.node_id.to_string() {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                broker.node_id
            ),
        ));
    }
    let mut entries: Vec<Entry> = BROKER_CONFIGS
        .iter()
        .map(|def| broker_entry(broker, def))
        .collect();
    let mut seen: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
    for def in TOPIC_CONFIGS {
        for entry in synonym_entries(broker, def) {
            if seen.insert(entry.name.clone()) {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

fn broker_entry(broker: &Broker, def: &BrokerConfigDef) -> Entry {
    let config = &broker.config;
    let actual = match def.name {
        "node.id" | "broker.id" => Some(broker.node_id.to_string()),
        "listeners" => Some(format!("PLAINTEXT://{}", config.listen)),
        "advertised.listeners" => Some(format!(
            "PLAINTEXT://{}:{}",
            broker.advertised_host, broker.advertised_port
        )),
        "log.dirs" => Some(config.data_dir.display().to_string()),
        _ => None,
    };
    let derived = actual.is_some();
    let (value, source) = match actual {
        Some(value) => (value, ConfigSource::StaticBroker),
        None => broker.topics.statics().broker_value_or_default(def),
    };
    let mut synonyms = vec![ResolvedConfig {
        name: def.name.into(),
        value: value.clone(),
        source,
    }];
    if source != ConfigSource::Default && !derived {
        synonyms.push(ResolvedConfig {
            name: def.name.into(),
            value: def.default.into(),
            source: ConfigSource::Default,
        });
    }
    Entry {
        name: def.name.into(),
        value,
        source,
        read_only: true,
        synonyms,
        config_type: def.config_type,
        doc: None,
    }
}

/// The broker-level names standing in for a topic config: every one that is
/// set, and the first (most specific) one even when unset, with the effective
/// broker-level value.
fn synonym_entries(broker: &Broker, def: &TopicConfigDef) -> Vec<Entry> {
    let statics = broker.topics.statics();
    let no_overrides = BTreeMap::new();
    let chain = statics.topic_config_chain(def, &no_overrides);
    let mut entries = Vec::new();
    for (i, syn) in def.synonyms.iter().enumerate() {
        let set = statics.values.get(syn.name);
        let (value, source) = match (i, set) {
            (0, _) => statics.topic_value(def, &no_overrides),
            (_, Some(raw)) => (raw.clone(), ConfigSource::StaticBroker),
            (_, None) => continue,
        };
        entries.push(Entry {
            name: syn.name.to_string(),
            value,
            source,
            read_only: true,
            synonyms: chain.clone(),
            // The coarser units (hours, minutes) are ints in Kafka.
            config_type: if syn.factor == 1 {
                def.config_type
            } else {
                ConfigType::Int
            },
            doc: Some(def.doc),
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

    use super::*;
    use crate::handlers::test_support::{assert_encodes, test_broker_with};

    fn resource(kind: i8, name: &str, keys: Option<Vec<&'static str>>) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from(name.to_string()))
            .with_configuration_keys(
                keys.map(|k| k.into_iter().map(StrBytes::from_static_str).collect()),
            )
    }

    fn find<'a>(
        result: &'a DescribeConfigsResult,
        name: &str,
    ) -> Option<&'a DescribeConfigsResourceResult> {
        result.configs.iter().find(|c| c.name.as_str() == name)
    }

    #[tokio::test]
    async fn topic_configs_with_sources_and_synonyms() {
        let broker = test_broker_with(|c| c.with("log.retention.hours", "24")).await;
        let overrides = [("segment.bytes".to_string(), "2000000".to_string())].into();
        broker
            .topics
            .create("t", 1, overrides, false)
            .await
            .unwrap();
        let req = DescribeConfigsRequest::default()
            .with_resources(vec![
                resource(RESOURCE_TOPIC, "t", None),
                resource(RESOURCE_TOPIC, "t", Some(vec!["retention.ms"])),
                resource(RESOURCE_TOPIC, "missing", None),
                resource(16, "g", None),
            ])
            .with_include_synonyms(true)
            .with_include_documentation(true);
        let resp = handle(&broker, req, 4).await;
        assert_encodes(&resp, 4);
        assert_encodes(&resp, 1);
        let all = &resp.results[0];
        assert_eq!(all.error_code, 0);
        assert_eq!(all.configs.len(), TOPIC_CONFIGS.len());
        let seg = find(all, "segment.bytes").unwrap();
        assert_eq!(
            (seg.value.as_deref(), seg.config_source),
            (Some("2000000"), 1)
        );
        assert_eq!(seg.synonyms.len(), 2);
        let ret = find(all, "retention.ms").unwrap();
        assert_eq!(ret.value.as_deref(), Some("86400000"));
        assert_eq!(ret.config_source, 4);
        let names: Vec<&str> = ret.synonyms.iter().map(|s| s.name.as_str()).collect();
        // As Kafka lists them: the static hours setting, then the default,
        // which Kafka keeps on log.retention.hours (168).
        assert_eq!(names, vec!["log.retention.hours", "log.retention.hours"]);
        assert_eq!(ret.synonyms[0].value.as_deref(), Some("24"));
        assert_eq!(ret.synonyms[1].value.as_deref(), Some("168"));
        assert_eq!(ret.synonyms[1].source, 5);
        assert_eq!(ret.config_type, ConfigType::Long.wire_code());
        assert!(ret.documentation.is_some());
        assert_eq!(resp.results[1].configs.len(), 1);
        assert_eq!(
            resp.results[2].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        assert_eq!(
            resp.results[3].error_code,
            ResponseError::InvalidRequest.code()
        );
    }

    #[tokio::test]
    async fn broker_configs_show_real_values() {
        let broker = test_broker_with(|c| {
            c.with("log.retention.hours", "24")
                .with("num.partitions", "4")
        })
        .await;
        let me = broker.node_id.to_string();
        let req = DescribeConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_BROKER, &me, None),
            resource(RESOURCE_BROKER, "", None),
            resource(RESOURCE_BROKER, "99", None),
        ]);
        let resp = handle(&broker, req, 2).await;
        assert_encodes(&resp, 2);
        let r = &resp.results[0];
        assert_eq!(r.error_code, 0);
        let value = |name: &str| {
            find(r, name)
                .and_then(|c| c.value.as_ref())
                .map(|v| v.to_string())
        };
        assert_eq!(value("node.id"), Some(me.clone()));
        assert_eq!(value("num.partitions").as_deref(), Some("4"));
        assert_eq!(
            value("advertised.listeners"),
            Some(format!(
                "PLAINTEXT://{}:{}",
                broker.advertised_host, broker.advertised_port
            ))
        );
        assert_eq!(value("log.retention.hours").as_deref(), Some("24"));
        assert_eq!(value("log.retention.ms").as_deref(), Some("86400000"));
        assert_eq!(value("log.retention.minutes"), None);
        assert_eq!(value("log.segment.bytes").as_deref(), Some("1073741824"));
        assert!(r.configs.iter().all(|c| c.read_only));
        assert_eq!(resp.results[1].error_code, 0);
        assert_eq!(
            resp.results[2].error_code,
            ResponseError::InvalidRequest.code()
        );
    }
}
