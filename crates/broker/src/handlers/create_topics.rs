//! CreateTopics (v2–v7). One broker: a replication factor above 1 and manual
//! assignments naming other brokers are refused, as Kafka refuses them when
//! too few brokers are registered.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::acl::AclOperation::{Create, DescribeConfigs};
use crate::acl::ResourceType::Topic;
use crate::authorization;
use crate::broker::Broker;
use crate::configs::{topic_config, topic_configs};
use crate::error::{ApiError, ApiResult};
use crate::handlers::describe_configs::chain_source;
use crate::quotas::MutationQuota;
use crate::request_context::RequestContext;
use fjord_storage::meta::TopicMeta;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = ctx.api_version;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *seen.entry(topic.name.as_str()).or_default() += 1;
    }
    let cluster_create = authorization::cluster_allows(broker, ctx, Create);
    // KIP-599: from v6 a client over its quota gets THROTTLING_QUOTA_EXCEEDED.
    let mut quota = broker.quotas.mutation_quota(ctx, version >= 6);
    let mut results = Vec::with_capacity(request.topics.len());
    let mut answered_duplicates: Vec<&str> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.as_str();
        let outcome = if seen.get(name).copied().unwrap_or(0) > 1 {
            // Kafka answers a duplicated name once, with INVALID_REQUEST.
            if answered_duplicates.contains(&name) {
                continue;
            }
            answered_duplicates.push(name);
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Duplicate topic name.",
            ))
        } else if let Some(denied) = (!cluster_create)
            .then(|| authorization::require(broker, ctx, Create, Topic, name).err())
            .flatten()
        {
            Err(ApiError::new(denied, "Authorization failed."))
        } else {
            create_one(broker, topic, request.validate_only, &mut quota).await
        };
        // Kafka hides the created topic's configs without DescribeConfigs.
        let configs_denied = authorization::refused(broker, ctx, DescribeConfigs, Topic, name);
        results.push(result(broker, name, outcome, configs_denied, version));
    }
    CreateTopicsResponse::default()
        .with_topics(results)
        .with_throttle_time_ms(quota.throttle_time_ms())
}

async fn create_one(
    broker: &Broker,
    topic: &CreatableTopic,
    validate_only: bool,
    quota: &mut MutationQuota<'_>,
) -> ApiResult<TopicMeta> {
    let partitions = if topic.assignments.is_empty() {
        check_replication_factor(topic.replication_factor)?;
        match topic.num_partitions {
            -1 => broker.config.num_partitions(),
            n => n,
        }
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. \
                 Both cannot be used at the same time.",
            ));
        }
        partitions_from_assignments(broker.node_id(), topic)?
    };
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        let value = config.value.as_ref().ok_or_else(|| {
            ApiError::new(
                ResponseError::InvalidConfig,
                format!(
                    "Null value not supported for topic configs: {}",
                    config.name.as_str()
                ),
            )
        })?;
        configs.insert(config.name.to_string(), value.to_string());
    }
    if !validate_only && broker.topics.get(topic.name.as_str()).is_none() {
        quota.admit(i64::from(partitions))?;
    }
    let created = broker
        .topics
        .create(topic.name.as_str(), partitions, configs, validate_only)
        .await?;
    if !validate_only {
        log_not_honoured(&created);
    }
    Ok(created)
}

/// Says once, when the topic is made, which of its configs Fjord takes
/// without honouring them (DescribeConfigs' documentation says it too).
fn log_not_honoured(topic: &TopicMeta) {
    for (name, value) in &topic.configs {
        if let Some(note) = topic_config(name).and_then(|def| def.support.note()) {
            tracing::info!(topic = %topic.name, "topic config {name}={value}: {note}");
        }
    }
}

fn check_replication_factor(factor: i16) -> ApiResult<()> {
    match factor {
        -1 | 1 => Ok(()),
        n if n < 1 => Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        )),
        n => Err(ApiError::new(
            ResponseError::InvalidReplicationFactor,
            format!("Replication factor: {n} larger than available brokers: 1."),
        )),
    }
}

/// The partition count of a manual assignment: partitions 0..n, each on this broker only.
fn partitions_from_assignments(node_id: i32, topic: &CreatableTopic) -> ApiResult<i32> {
    let invalid = |message: String| ApiError::new(ResponseError::InvalidReplicaAssignment, message);
    let mut indexes: Vec<i32> = topic
        .assignments
        .iter()
        .map(|a| a.partition_index)
        .collect();
    indexes.sort_unstable();
    if indexes
        .iter()
        .enumerate()
        .any(|(i, &p)| i64::from(p) != i as i64)
    {
        return Err(invalid(
            "Partitions should be a consecutive 0-based integer sequence".to_string(),
        ));
    }
    for assignment in &topic.assignments {
        if let Some(other) = assignment.broker_ids.iter().find(|b| b.0 != node_id) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {}, but no such broker is registered.",
                other.0
            )));
        }
        if assignment.broker_ids.len() != 1 {
            return Err(invalid(format!(
                "The manual partition assignment of partition {} must name broker {node_id} exactly once.",
                assignment.partition_index
            )));
        }
    }
    i32::try_from(indexes.len()).map_err(|_| invalid("Too many partitions.".to_string()))
}

fn result(
    broker: &Broker,
    name: &str,
    outcome: ApiResult<TopicMeta>,
    configs_denied: Option<i16>,
    version: i16,
) -> CreatableTopicResult {
    let base = CreatableTopicResult::default().with_name(StrBytes::from(name.to_string()).into());
    match outcome {
        Ok(topic) => {
            let statics = broker.topics.statics();
            let configs = topic_configs()
                .filter(|_| configs_denied.is_none())
                .filter(|def| !def.kafka.internal || topic.configs.contains_key(def.name()))
                .map(|def| {
                    let (value, _) = statics.topic_value(&def, &topic.configs);
                    let source = chain_source(&statics.topic_config_chain(&def, &topic.configs));
                    CreatableTopicConfigs::default()
                        .with_name(StrBytes::from_static_str(def.name()))
                        .with_value(value.map(StrBytes::from))
                        .with_read_only(false)
                        .with_config_source(source.wire_code())
                        .with_is_sensitive(false)
                })
                .collect();
            // A validate-only answer names no id: the topic does not exist.
            let exists = broker.topics.get(name).is_some_and(|t| t.id == topic.id);
            base.with_topic_id(if version >= 7 && exists {
                topic.id
            } else {
                Uuid::nil()
            })
            .with_error_code(0)
            .with_error_message(None)
            .with_num_partitions(topic.partitions)
            .with_replication_factor(1)
            .with_configs(Some(configs))
            .with_topic_config_error_code(configs_denied.unwrap_or(0))
        }
        Err(e) => base
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from(e.message)))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            // Kafka 4.1 sends an empty list, not null (scripts/diffcheck).
            .with_configs(Some(Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::BrokerId;

    use super::*;
    use crate::handlers::test_support::{assert_encodes, ctx, test_broker};
    use kafka_protocol::messages::ApiKey;

    fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(StrBytes::from(name.to_string()).into())
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
    }

    fn request(topics: Vec<CreatableTopic>) -> CreateTopicsRequest {
        CreateTopicsRequest::default().with_topics(topics)
    }

    #[tokio::test]
    async fn creates_with_defaults_and_reports_configs() {
        let broker = test_broker().await;
        let retention = CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("1000")));
        let req = request(vec![
            topic("a", -1, -1).with_configs(vec![retention]),
            topic("b", 3, 1),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::CreateTopics, 7), req).await;
        assert_encodes(&resp, 7);
        assert_encodes(&resp, 2);
        let a = &resp.topics[0];
        assert_eq!(a.error_code, 0, "{:?}", a.error_message);
        assert_eq!(a.num_partitions, broker.config.num_partitions());
        assert_eq!(a.replication_factor, 1);
        assert_eq!(a.topic_id, broker.topics.get("a").unwrap().id);
        let configs = a.configs.as_ref().unwrap();
        let retention = configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.config_source, 1);
        assert_eq!(resp.topics[1].num_partitions, 3);
        assert_eq!(broker.topics.get("b").unwrap().partitions, 3);
    }

    #[tokio::test]
    async fn refuses_bad_requests_per_topic() {
        let broker = test_broker().await;
        let node = broker.node_id();
        let assign = |p: i32, brokers: Vec<i32>| {
            CreatableReplicaAssignment::default()
                .with_partition_index(p)
                .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
        };
        let bad_config = CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("soon")));
        let req = request(vec![
            topic("rf", 1, 3),
            topic("dup", 1, 1),
            topic("dup", 2, 1),
            topic("manual", -1, -1)
                .with_assignments(vec![assign(0, vec![node]), assign(1, vec![node])]),
            topic("elsewhere", -1, -1).with_assignments(vec![assign(0, vec![node + 1])]),
            topic("cfg", 1, 1).with_configs(vec![bad_config]),
            topic("huge", i32::MAX, 1),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::CreateTopics, 5), req).await;
        assert_encodes(&resp, 5);
        let codes: Vec<(String, i16)> = resp
            .topics
            .iter()
            .map(|t| (t.name.to_string(), t.error_code))
            .collect();
        assert_eq!(
            codes,
            vec![
                (
                    "rf".to_string(),
                    ResponseError::InvalidReplicationFactor.code()
                ),
                ("dup".to_string(), ResponseError::InvalidRequest.code()),
                ("manual".to_string(), 0),
                (
                    "elsewhere".to_string(),
                    ResponseError::InvalidReplicaAssignment.code()
                ),
                ("cfg".to_string(), ResponseError::InvalidConfig.code()),
                ("huge".to_string(), ResponseError::InvalidPartitions.code()),
            ]
        );
        assert!(broker.topics.get("huge").is_none());
        assert_eq!(
            resp.topics[0].error_message.as_deref(),
            Some("Replication factor: 3 larger than available brokers: 1.")
        );
        assert_eq!(resp.topics[0].num_partitions, -1);
        assert_eq!(broker.topics.get("manual").unwrap().partitions, 2);
        assert!(broker.topics.get("dup").is_none());
        assert!(broker.topics.get("elsewhere").is_none());
    }

    fn config(name: &'static str, value: &'static str) -> CreatableTopicConfig {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(Some(StrBytes::from_static_str(value)))
    }

    #[tokio::test]
    async fn kafka_topic_configs_are_taken_and_refusals_say_why() {
        let broker = test_broker().await;
        let kafka_only = vec![
            config("delete.retention.ms", "3600000"),
            config("min.compaction.lag.ms", "1000"),
            config("message.timestamp.before.max.ms", "86400000"),
            config("message.timestamp.after.max.ms", "3600000"),
            config("unclean.leader.election.enable", "false"),
        ];
        let req = request(vec![
            topic("kafka-names", 1, 1).with_configs(kafka_only),
            topic("unknown", 1, 1).with_configs(vec![config("no.such.config", "1")]),
            topic("invalid", 1, 1).with_configs(vec![config("delete.retention.ms", "-5")]),
            topic("compact", 1, 1).with_configs(vec![config("cleanup.policy", "compact")]),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::CreateTopics, 7), req).await;
        let answer = |i: usize| {
            let t = &resp.topics[i];
            (
                t.error_code,
                t.error_message.as_deref().unwrap_or("").to_string(),
            )
        };
        assert_eq!(answer(0), (0, String::new()));
        assert!(broker.topics.get("kafka-names").is_some());
        let invalid_config = ResponseError::InvalidConfig.code();
        assert_eq!(
            answer(1),
            (
                invalid_config,
                "Unknown topic config name: no.such.config".to_string()
            )
        );
        assert_eq!(
            answer(2),
            (
                invalid_config,
                "Invalid value -5 for configuration delete.retention.ms: Value must be at least 0"
                    .to_string()
            )
        );
        let (code, message) = answer(3);
        assert_eq!(code, invalid_config);
        assert!(
            message.contains("cleanup.policy") && message.contains("not supported"),
            "{message}"
        );
        for name in ["unknown", "invalid", "compact"] {
            assert!(broker.topics.get(name).is_none(), "{name}");
        }
    }

    #[tokio::test]
    async fn validate_only_creates_nothing_and_existing_is_refused() {
        let broker = test_broker().await;
        let resp = handle(
            &broker,
            &ctx(ApiKey::CreateTopics, 7),
            request(vec![topic("v", 2, 1)]).with_validate_only(true),
        )
        .await;
        assert_eq!(resp.topics[0].error_code, 0);
        assert_eq!(resp.topics[0].num_partitions, 2);
        assert!(resp.topics[0].topic_id.is_nil());
        assert!(broker.topics.get("v").is_none());
        handle(
            &broker,
            &ctx(ApiKey::CreateTopics, 7),
            request(vec![topic("v", 2, 1)]),
        )
        .await;
        let again = handle(
            &broker,
            &ctx(ApiKey::CreateTopics, 7),
            request(vec![topic("v", 2, 1)]),
        )
        .await;
        assert_eq!(
            again.topics[0].error_code,
            ResponseError::TopicAlreadyExists.code()
        );
    }
}
