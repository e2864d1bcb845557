//! CreatePartitions (v0–v3): grows topics. Manual assignments may only name
//! this broker, one replica per new partition.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Alter;
use crate::acl::ResourceType::Topic;
use crate::authorization;
use crate::broker::Broker;
use crate::error::{ApiError, ApiResult};
use crate::quotas::MutationQuota;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *counts.entry(topic.name.as_str()).or_default() += 1;
    }
    // KIP-599: from v3 a client over its quota gets THROTTLING_QUOTA_EXCEEDED.
    let mut quota = broker.quotas.mutation_quota(ctx, ctx.api_version >= 3);
    let mut results = Vec::with_capacity(request.topics.len());
    let mut answered: Vec<&str> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.as_str();
        let outcome = if counts.get(name).copied().unwrap_or(0) > 1 {
            if answered.contains(&name) {
                continue;
            }
            answered.push(name);
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Duplicate topic name.",
            ))
        } else if let Err(code) = authorization::require(broker, ctx, Alter, Topic, name) {
            Err(ApiError::new(code, "Authorization failed."))
        } else {
            grow(broker, topic, request.validate_only, &mut quota).await
        };
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err(e) => (e.code(), Some(StrBytes::from(e.message))),
        };
        results.push(
            CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    CreatePartitionsResponse::default()
        .with_results(results)
        .with_throttle_time_ms(quota.throttle_time_ms())
}

async fn grow(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
    quota: &mut MutationQuota<'_>,
) -> ApiResult<()> {
    let name = topic.name.as_str();
    let current = broker
        .topics
        .get(name)
        .ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )
        })?
        .partitions;
    if let Some(assignments) = &topic.assignments {
        let added = i64::from(topic.count) - i64::from(current);
        if added > 0 {
            let invalid = |m: String| ApiError::new(ResponseError::InvalidReplicaAssignment, m);
            if assignments.len() as i64 != added {
                return Err(invalid(format!(
                    "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                )));
            }
            for assignment in assignments {
                if let Some(other) = assignment
                    .broker_ids
                    .iter()
                    .find(|b| b.0 != broker.node_id())
                {
                    return Err(invalid(format!(
                        "The manual partition assignment includes broker {}, but no such broker is registered.",
                        other.0
                    )));
                }
                if assignment.broker_ids.len() != 1 {
                    return Err(invalid(format!(
                        "The manual partition assignment includes a partition with {} replica(s), but this is not \
                         consistent with previous partitions, which have 1 replica(s).",
                        assignment.broker_ids.len()
                    )));
                }
            }
        }
    }
    if !validate_only && topic.count > current {
        quota.admit(i64::from(topic.count) - i64::from(current))?;
    }
    broker
        .topics
        .add_partitions(name, topic.count, validate_only)
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use kafka_protocol::messages::BrokerId;

    use super::*;
    use crate::handlers::test_support::{assert_encodes, ctx, test_broker};
    use kafka_protocol::messages::ApiKey;

    fn topic(name: &str, count: i32) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(StrBytes::from(name.to_string()).into())
            .with_count(count)
            .with_assignments(None)
    }

    fn on(brokers: &[i32]) -> CreatePartitionsAssignment {
        CreatePartitionsAssignment::default()
            .with_broker_ids(brokers.iter().copied().map(BrokerId).collect())
    }

    #[tokio::test]
    async fn grows_and_refuses() {
        let broker = test_broker().await;
        let node = broker.node_id();
        for name in ["a", "b", "c", "d", "e"] {
            broker
                .topics
                .create(name, 1, BTreeMap::new(), false)
                .await
                .unwrap();
        }
        let req = CreatePartitionsRequest::default().with_topics(vec![
            topic("a", 3),
            topic("b", 3).with_assignments(Some(vec![on(&[node]), on(&[node])])),
            topic("c", 3).with_assignments(Some(vec![on(&[node]), on(&[node + 1])])),
            topic("d", 1),
            topic("e", 2),
            topic("e", 3),
            topic("missing", 2),
        ]);
        let resp = handle(&broker, &ctx(ApiKey::CreatePartitions, 3), req).await;
        assert_encodes(&resp, 3);
        assert_encodes(&resp, 0);
        let codes: Vec<i16> = resp.results.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                0,
                ResponseError::InvalidReplicaAssignment.code(),
                ResponseError::InvalidPartitions.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::UnknownTopicOrPartition.code(),
            ]
        );
        assert_eq!(broker.topics.get("a").unwrap().partitions, 3);
        assert_eq!(broker.topics.get("b").unwrap().partitions, 3);
        assert!(broker.topics.partition("b", 2).is_some());
        assert_eq!(broker.topics.get("c").unwrap().partitions, 1);
    }

    #[tokio::test]
    async fn validate_only_changes_nothing() {
        let broker = test_broker().await;
        broker
            .topics
            .create("a", 1, BTreeMap::new(), false)
            .await
            .unwrap();
        let req = CreatePartitionsRequest::default()
            .with_topics(vec![topic("a", 4)])
            .with_validate_only(true);
        let resp = handle(&broker, &ctx(ApiKey::CreatePartitions, 2), req).await;
        assert_eq!(resp.results[0].error_code, 0);
        assert_eq!(broker.topics.get("a").unwrap().partitions, 1);
    }
}
