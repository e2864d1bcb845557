use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;

use super::*;
use crate::configs::Kind;
use crate::handlers::test_support::{assert_encodes, ctx, test_broker_with};
use kafka_protocol::messages::ApiKey;

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
    let resp = handle(&broker, &ctx(ApiKey::DescribeConfigs, 4), req).await;
    assert_encodes(&resp, 4);
    assert_encodes(&resp, 1);
    let all = &resp.results[0];
    assert_eq!(all.error_code, 0);
    // Every topic config Kafka lists; none of its internal ones is set.
    assert_eq!(
        all.configs.len(),
        topic_configs().filter(|def| !def.kafka.internal).count()
    );
    let seg = find(all, "segment.bytes").unwrap();
    assert_eq!(
        (seg.value.as_deref(), seg.config_source),
        (Some("2000000"), 1)
    );
    assert_eq!(seg.synonyms.len(), 2);
    let ret = find(all, "retention.ms").unwrap();
    // Kafka 4.1 with log.retention.hours=24 (seen with its Admin client):
    // value 86400000, source DEFAULT_CONFIG and no synonyms, because Kafka
    // lists broker synonyms only from log.retention.ms on, which is unset.
    assert_eq!(ret.value.as_deref(), Some("86400000"));
    assert_eq!(ret.config_source, 5);
    assert!(ret.synonyms.is_empty(), "{:?}", ret.synonyms);
    assert_eq!(ret.config_type, Kind::Long.wire_code());
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
    let me = broker.node_id().to_string();
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            resource(RESOURCE_BROKER, &me, None),
            resource(RESOURCE_BROKER, "", None),
            resource(RESOURCE_BROKER, "99", None),
        ]);
    let resp = handle(&broker, &ctx(ApiKey::DescribeConfigs, 2), req).await;
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
        broker
            .cluster
            .local()
            .on("PLAINTEXT")
            .map(|b| format!("PLAINTEXT://{}:{}", b.host, b.port))
    );
    assert_eq!(value("log.retention.hours").as_deref(), Some("24"));
    // Unset, as Kafka 4.1 lists it, though log.retention.hours applies.
    assert_eq!(value("log.retention.ms"), None);
    let hours = find(r, "log.retention.hours").unwrap();
    let hours_synonyms: Vec<(&str, Option<&str>, i8)> = hours
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        hours_synonyms,
        vec![
            ("log.retention.hours", Some("24"), 4),
            ("log.retention.hours", Some("168"), 5)
        ]
    );
    assert_eq!(value("log.retention.minutes"), None);
    assert_eq!(value("log.segment.bytes").as_deref(), Some("1073741824"));
    assert!(r.configs.iter().all(|c| c.read_only));
    // Every broker config Kafka lists, secrets without their value.
    assert_eq!(
        r.configs.len(),
        broker_configs().filter(|def| !def.kafka.internal).count()
    );
    let password = find(r, "ssl.keystore.password").unwrap();
    assert!(password.is_sensitive && password.value.is_none());
    // The cluster-wide dynamic defaults: none are set, as Kafka answers.
    assert_eq!(resp.results[1].error_code, 0);
    assert!(resp.results[1].configs.is_empty());
    assert_eq!(
        resp.results[2].error_code,
        ResponseError::InvalidRequest.code()
    );
}

fn names(result: &DescribeConfigsResult) -> Vec<&str> {
    result.configs.iter().map(|c| c.name.as_str()).collect()
}

/// Kafka 4.1.1's ConfigHelper, asked for these five topic configs in either
/// order, answered them in this order (its own list, filtered): the order
/// of the request does not matter, and clients reading by position see
/// what they would see from Kafka.
#[tokio::test]
async fn named_configs_come_in_kafkas_order() {
    let broker = test_broker_with(|c| c).await;
    broker
        .topics
        .create("t", 1, Default::default(), false)
        .await
        .unwrap();
    let asked = vec![
        "segment.bytes",
        "retention.ms",
        "cleanup.policy",
        "compression.type",
        "max.message.bytes",
    ];
    let mut reversed = asked.clone();
    reversed.reverse();
    let req = DescribeConfigsRequest::default().with_resources(vec![
        resource(RESOURCE_TOPIC, "t", Some(asked)),
        resource(RESOURCE_TOPIC, "t", Some(reversed)),
        resource(RESOURCE_TOPIC, "t", None),
    ]);
    let resp = handle(&broker, &ctx(ApiKey::DescribeConfigs, 4), req).await;
    let kafka_order = vec![
        "compression.type",
        "cleanup.policy",
        "max.message.bytes",
        "segment.bytes",
        "retention.ms",
    ];
    assert_eq!(names(&resp.results[0]), kafka_order);
    assert_eq!(names(&resp.results[1]), kafka_order);
    // The first of Kafka's all-configs answer for a topic, as Kafka 4.1.1 gives it.
    assert_eq!(
        names(&resp.results[2])[..5],
        [
            "compression.type",
            "remote.log.delete.on.disable",
            "leader.replication.throttled.replicas",
            "remote.storage.enable",
            "min.insync.replicas"
        ]
    );
}

#[tokio::test]
async fn a_config_with_no_effect_says_so_in_its_documentation() {
    let broker = test_broker_with(|c| c.with("offsets.topic.replication.factor", "1")).await;
    let overrides = [("delete.retention.ms".to_string(), "3600000".to_string())].into();
    broker
        .topics
        .create("t", 1, overrides, false)
        .await
        .unwrap();
    let me = broker.node_id().to_string();
    let req = DescribeConfigsRequest::default()
        .with_resources(vec![
            resource(
                RESOURCE_TOPIC,
                "t",
                Some(vec!["delete.retention.ms", "retention.ms"]),
            ),
            resource(
                RESOURCE_BROKER,
                &me,
                Some(vec!["offsets.topic.replication.factor"]),
            ),
        ])
        .with_include_documentation(true);
    let resp = handle(&broker, &ctx(ApiKey::DescribeConfigs, 4), req).await;
    assert_encodes(&resp, 4);
    let doc = |result: &DescribeConfigsResult, name: &str| {
        find(result, name)
            .and_then(|c| c.documentation.as_deref())
            .unwrap_or_default()
            .to_string()
    };
    let topic = &resp.results[0];
    let delete_retention = find(topic, "delete.retention.ms").unwrap();
    assert_eq!(delete_retention.value.as_deref(), Some("3600000"));
    assert_eq!(
        delete_retention.config_source,
        ConfigSource::Topic.wire_code()
    );
    assert!(
        doc(topic, "delete.retention.ms")
            .starts_with("No effect in Fjord: log compaction is not built yet"),
        "{}",
        doc(topic, "delete.retention.ms")
    );
    assert!(!doc(topic, "retention.ms").contains("Fjord"));
    let broker_result = &resp.results[1];
    let replication = find(broker_result, "offsets.topic.replication.factor").unwrap();
    assert_eq!(replication.value.as_deref(), Some("1"));
    assert!(doc(broker_result, "offsets.topic.replication.factor")
        .starts_with("No effect in Fjord: committed offsets live in Fjord's own offset store"));
}
