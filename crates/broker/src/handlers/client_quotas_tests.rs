//! DescribeClientQuotas and AlterClientQuotas through their handlers, at
//! each version, and the quotas surviving a restart of the broker's store.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker};
use super::{alter_client_quotas, describe_client_quotas};
use crate::quotas::{ClientQuotas, QuotaSettings};

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn entry(entity: &[(&str, Option<&str>)], ops: Vec<OpData>) -> EntryData {
    EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(s(t))
                        .with_entity_name(n.map(s))
                })
                .collect(),
        )
        .with_ops(ops)
}

fn set(key: &str, value: f64) -> OpData {
    OpData::default().with_key(s(key)).with_value(value)
}

fn user_filter(match_type: i8, name: Option<&str>) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest::default().with_components(vec![ComponentData::default()
        .with_entity_type(s("user"))
        .with_match_type(match_type)
        .with_match(name.map(s))])
}

#[tokio::test]
async fn alter_then_describe_at_every_version() {
    let broker = test_broker().await;
    for version in 0..=1 {
        let user = format!("user-{version}");
        let request = AlterClientQuotasRequest::default().with_entries(vec![
            entry(
                &[("user", Some(&user)), ("client-id", None)],
                vec![
                    set("producer_byte_rate", 1024.0),
                    set("request_percentage", 50.0),
                ],
            ),
            entry(
                &[("ip", Some("10.0.0.1"))],
                vec![set("producer_byte_rate", 1.0)],
            ),
        ]);
        let ctx = ctx(ApiKey::AlterClientQuotas, version);
        let altered = alter_client_quotas::handle(&broker, &ctx, request.clone()).await;
        assert_encodes(&altered, version);
        let codes: Vec<i16> = altered.entries.iter().map(|e| e.error_code).collect();
        assert_eq!(codes, [0, ResponseError::InvalidRequest.code()]);

        let ctx = ctx_describe(version);
        let described =
            describe_client_quotas::handle(&broker, &ctx, user_filter(0, Some(&user))).await;
        assert_encodes(&described, version);
        let entries = described.entries.expect("entries");
        assert_eq!(entries.len(), 1);
        let values: Vec<(String, f64)> = entries[0]
            .values
            .iter()
            .map(|v| (v.key.to_string(), v.value))
            .collect();
        assert_eq!(
            values,
            [
                ("producer_byte_rate".into(), 1024.0),
                ("request_percentage".into(), 50.0)
            ]
        );
    }
    // validate_only stores nothing.
    let check = AlterClientQuotasRequest::default()
        .with_validate_only(true)
        .with_entries(vec![entry(
            &[("user", None)],
            vec![set("consumer_byte_rate", 1.0)],
        )]);
    let checked =
        alter_client_quotas::handle(&broker, &ctx(ApiKey::AlterClientQuotas, 1), check).await;
    assert_eq!(checked.entries[0].error_code, 0);
    let defaults =
        describe_client_quotas::handle(&broker, &ctx_describe(1), user_filter(1, None)).await;
    assert_eq!(defaults.entries.map(|e| e.len()), Some(0));

    // A bad filter: the whole answer's error, no entries.
    let bad = describe_client_quotas::handle(&broker, &ctx_describe(1), user_filter(0, None)).await;
    assert_eq!(bad.error_code, ResponseError::InvalidRequest.code());
    assert!(bad.entries.is_none());

    let reopened = ClientQuotas::open(&broker.config.data_dir, QuotaSettings::default()).unwrap();
    assert_eq!(reopened.quotas().len(), 2, "both users' quotas are on disk");
}

fn ctx_describe(version: i16) -> crate::request_context::RequestContext {
    ctx(ApiKey::DescribeClientQuotas, version)
}

fn create(names: &[&str], partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_topics(
        names
            .iter()
            .map(|n| {
                create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(n)))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
            })
            .collect(),
    )
}

/// controller_mutation_rate (KIP-599): from CreateTopics v6 a request that
/// finds the quota exceeded gets THROTTLING_QUOTA_EXCEEDED for the topics
/// past it; before v6 the mutations are made and the answer throttled.
#[tokio::test]
async fn partition_mutations_over_the_quota_are_throttled() {
    let broker = test_broker().await;
    let quota = AlterClientQuotasRequest::default().with_entries(vec![entry(
        &[("client-id", None)],
        vec![set("controller_mutation_rate", 1.0)],
    )]);
    alter_client_quotas::handle(&broker, &ctx(ApiKey::AlterClientQuotas, 1), quota).await;
    // The bucket holds 11 partitions: 12 take it below zero, then "c" is refused.
    let strict = super::create_topics::handle(
        &broker,
        &ctx(ApiKey::CreateTopics, 7),
        create(&["a", "b", "c"], 6),
    )
    .await;
    let codes: Vec<i16> = strict.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 0, ResponseError::ThrottlingQuotaExceeded.code()]);
    assert!(strict.throttle_time_ms > 0, "{}", strict.throttle_time_ms);
    assert!(broker.topics.get("c").is_none());

    let permissive =
        super::create_topics::handle(&broker, &ctx(ApiKey::CreateTopics, 5), create(&["d"], 2))
            .await;
    assert_eq!(permissive.topics[0].error_code, 0);
    assert!(
        permissive.throttle_time_ms >= 1_000,
        "{}",
        permissive.throttle_time_ms
    );

    let deleted = super::delete_topics::handle(
        &broker,
        &ctx(ApiKey::DeleteTopics, 5),
        DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("a"))]),
    )
    .await;
    assert_eq!(
        deleted.responses[0].error_code,
        ResponseError::ThrottlingQuotaExceeded.code()
    );
    assert!(broker.topics.get("a").is_some());
}
