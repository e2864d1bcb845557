//! DescribeTopicPartitions (v0, KIP-966): topic and partition details in
//! pages of at most `response_partition_limit` partitions, resumed by cursor.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType::Topic;
use crate::broker::Broker;
use crate::cluster::{wire_ids, PartitionLeadership};
use crate::handlers::ALL_TOPIC_OPERATIONS;
use crate::internal_topics::is_internal;
use crate::request_context::RequestContext;
use crate::topics::validate_topic_name;

/// Kafka's `max.request.partition.size.limit` default: the most partitions
/// one response carries whatever the client asks.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    // Kafka lists only the topics the principal may describe, and always
    // answers a topic's authorized operations (the request has no switch).
    let describable = |name: &str| broker.authorizer.authorize(ctx, Describe, Topic, name);
    let error_topic = |name: &str, code: ResponseError| {
        error_topic(name, code).with_topic_authorized_operations(
            broker.authorizer.authorized_operations(ctx, Topic, name),
        )
    };
    let mut names: Vec<String> = if request.topics.is_empty() {
        let mut all = broker.topics.all();
        all.retain(|t| describable(&t.name));
        all.into_iter().map(|t| t.name).collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(c) => (Some(c.topic_name.to_string()), c.partition_index),
        None => (None, 0),
    };
    if cursor_partition < 0 {
        let topics = names
            .iter()
            .map(|n| error_topic(n, ResponseError::InvalidRequest))
            .collect();
        return DescribeTopicPartitionsResponse::default()
            .with_topics(topics)
            .with_next_cursor(None);
    }
    if let Some(start) = &cursor_topic {
        names.retain(|n| n >= start);
    }
    let mut remaining = if request.response_partition_limit < 1 {
        MAX_PARTITIONS_PER_RESPONSE
    } else {
        request
            .response_partition_limit
            .min(MAX_PARTITIONS_PER_RESPONSE)
    };
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in &names {
        if remaining == 0 {
            // Everything before this topic was answered: resume here.
            next_cursor = Some(cursor(name, 0));
            break;
        }
        if let Err(e) = validate_topic_name(name) {
            topics.push(error_topic(name, e.code));
            continue;
        }
        if !describable(name) {
            topics.push(error_topic(name, ResponseError::TopicAuthorizationFailed));
            continue;
        }
        let Some(topic) = broker.topics.get(name) else {
            topics.push(error_topic(name, ResponseError::UnknownTopicOrPartition));
            continue;
        };
        let first = if cursor_topic.as_deref() == Some(name.as_str()) {
            cursor_partition
        } else {
            0
        };
        let end = topic.partitions.min(first.saturating_add(remaining));
        let partitions: Vec<_> = (first..end)
            .map(|p| partition(broker.cluster.leadership(topic.id, p), p))
            .collect();
        remaining -= partitions.len() as i32;
        if end < topic.partitions {
            next_cursor = Some(cursor(name, end));
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(0)
                .with_name(Some(topic_name(name)))
                .with_topic_id(topic.id)
                .with_is_internal(is_internal(name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(
                    broker.authorizer.authorized_operations(ctx, Topic, name),
                ),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

fn topic_name(name: &str) -> TopicName {
    StrBytes::from(name.to_string()).into()
}

fn cursor(name: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(topic_name(name))
        .with_partition_index(partition)
}

fn error_topic(name: &str, code: ResponseError) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(code.code())
        .with_name(Some(topic_name(name)))
        .with_topic_id(Uuid::nil())
        .with_is_internal(false)
        .with_partitions(Vec::new())
        .with_topic_authorized_operations(ALL_TOPIC_OPERATIONS)
}

fn partition(
    leadership: PartitionLeadership,
    index: i32,
) -> DescribeTopicPartitionsResponsePartition {
    DescribeTopicPartitionsResponsePartition::default()
        .with_error_code(0)
        .with_partition_index(index)
        .with_leader_id(BrokerId(leadership.leader))
        .with_leader_epoch(leadership.leader_epoch)
        .with_replica_nodes(wire_ids(&leadership.replicas))
        .with_isr_nodes(wire_ids(&leadership.isr))
        .with_eligible_leader_replicas(Some(Vec::new()))
        .with_last_known_elr(Some(Vec::new()))
        .with_offline_replicas(Vec::new())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::messages::describe_topic_partitions_request::{self as req, TopicRequest};

    use super::*;
    use crate::handlers::test_support::{assert_encodes, ctx, test_broker};
    use kafka_protocol::messages::ApiKey;

    fn summary(resp: &DescribeTopicPartitionsResponse) -> Vec<(String, i16, Vec<i32>)> {
        resp.topics
            .iter()
            .map(|t| {
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                (
                    name,
                    t.error_code,
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect()
    }

    fn next(resp: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
        resp.next_cursor
            .as_ref()
            .map(|c| (c.topic_name.to_string(), c.partition_index))
    }

    #[tokio::test]
    async fn pages_through_all_topics() {
        let broker = test_broker().await;
        broker
            .topics
            .create("B", 3, BTreeMap::new(), false)
            .await
            .unwrap();
        broker
            .topics
            .create("A", 2, BTreeMap::new(), false)
            .await
            .unwrap();
        let request = DescribeTopicPartitionsRequest::default().with_response_partition_limit(4);
        let resp = handle(
            &broker,
            &ctx(ApiKey::DescribeTopicPartitions, 0),
            request.clone(),
        )
        .await;
        assert_encodes(&resp, 0);
        let s = |n: &str, c: i16, p: Vec<i32>| (n.to_string(), c, p);
        // Upper-case names sort before `__consumer_offsets`, which is listed
        // too (with its 50 partitions), as Kafka lists internal topics.
        assert_eq!(
            summary(&resp),
            vec![s("A", 0, vec![0, 1]), s("B", 0, vec![0, 1])]
        );
        assert_eq!(next(&resp), Some(("B".to_string(), 2)));
        assert_eq!(resp.topics[0].topic_id, broker.topics.get("A").unwrap().id);
        assert_eq!(
            resp.topics[0].partitions[0].replica_nodes,
            vec![BrokerId(broker.node_id())]
        );

        let cursor = req::Cursor::default()
            .with_topic_name(topic_name("B"))
            .with_partition_index(2);
        let resp = handle(
            &broker,
            &ctx(ApiKey::DescribeTopicPartitions, 0),
            request.clone().with_cursor(Some(cursor)),
        )
        .await;
        assert_eq!(
            summary(&resp),
            vec![
                s("B", 0, vec![2]),
                s("__consumer_offsets", 0, vec![0, 1, 2])
            ]
        );
        assert!(resp.topics[1].is_internal);
        assert_eq!(next(&resp), Some(("__consumer_offsets".to_string(), 3)));

        // The limit falls exactly at a topic's end: the cursor names the next topic.
        let resp = handle(
            &broker,
            &ctx(ApiKey::DescribeTopicPartitions, 0),
            request.with_response_partition_limit(2),
        )
        .await;
        assert_eq!(summary(&resp), vec![s("A", 0, vec![0, 1])]);
        assert_eq!(next(&resp), Some(("B".to_string(), 0)));
    }

    #[tokio::test]
    async fn named_topics_and_unknowns() {
        let broker = test_broker().await;
        broker
            .topics
            .create("x", 1, BTreeMap::new(), false)
            .await
            .unwrap();
        let topics = ["x", "missing"]
            .iter()
            .map(|n| TopicRequest::default().with_name(topic_name(n)))
            .collect();
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(topics)
            .with_response_partition_limit(2000);
        let resp = handle(&broker, &ctx(ApiKey::DescribeTopicPartitions, 0), request).await;
        assert_encodes(&resp, 0);
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(
            summary(&resp),
            vec![
                ("missing".to_string(), unknown, vec![]),
                ("x".to_string(), 0, vec![0])
            ]
        );
        // Kafka 4.1: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
        // DESCRIBE_CONFIGS, ALTER_CONFIGS; not IDEMPOTENT_WRITE (5624 was wrong).
        assert_eq!(resp.topics[1].topic_authorized_operations, 3576);
    }
}
