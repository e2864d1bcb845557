//! OffsetFetch (v1–v9): one group before v8, many from v8. A transaction's
//! offsets count only once it commits; with `require_stable` (v7+) a
//! partition with a transactional offset still pending is answered
//! UNSTABLE_OFFSET_COMMIT instead (the client retries), as Kafka's
//! `OffsetMetadataManager.fetchOffsets` does. Without it the last
//! committed offset is answered.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::acl::AclOperation::Describe;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// One partition's answer: offset, leader epoch, metadata, or its error.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: Option<ResponseError>,
}

impl Fetched {
    fn none(partition: i32, error: Option<ResponseError>) -> Self {
        Fetched {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error,
        }
    }
}

/// The group's offsets for the asked partitions (None: every committed one
/// on a topic the principal may describe), by topic in the order asked; or
/// the group's own error when the principal may not describe it.
fn fetch(
    broker: &Broker,
    ctx: &RequestContext,
    group: &str,
    asked: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<Fetched>)>, ResponseError> {
    authorization::require(broker, ctx, Describe, ResourceType::Group, group)?;
    let store = broker.groups.store();
    let unstable: HashSet<(String, i32)> = if require_stable {
        broker.groups.pending_partitions(group)
    } else {
        HashSet::new()
    };
    let asked = asked.unwrap_or_else(|| {
        let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
        for entry in store.group_offsets(group) {
            match by_topic.iter_mut().find(|(t, _)| *t == entry.topic) {
                Some((_, parts)) => parts.push(entry.partition),
                None => by_topic.push((entry.topic, vec![entry.partition])),
            }
        }
        by_topic.retain(|(topic, _)| {
            broker
                .authorizer
                .authorize(ctx, Describe, ResourceType::Topic, topic)
        });
        by_topic
    });
    Ok(asked
        .into_iter()
        .map(|(topic, partitions)| {
            let denied = authorization::require(broker, ctx, Describe, ResourceType::Topic, &topic);
            let fetched = partitions
                .into_iter()
                .map(|partition| {
                    if let Err(denied) = denied {
                        return Fetched::none(partition, Some(denied));
                    }
                    if unstable.contains(&(topic.clone(), partition)) {
                        return Fetched::none(partition, Some(ResponseError::UnstableOffsetCommit));
                    }
                    match store.fetch(group, &topic, partition) {
                        Some(c) => Fetched {
                            partition,
                            offset: c.offset,
                            leader_epoch: c.leader_epoch,
                            metadata: c.metadata.unwrap_or_default(),
                            error: None,
                        },
                        None => Fetched::none(partition, None),
                    }
                })
                .collect();
            (topic, fetched)
        })
        .collect())
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.api_version;
    // The field exists from v7; the codec leaves it false below.
    let require_stable = request.require_stable;
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        response.groups = request
            .groups
            .iter()
            .map(|g| {
                let asked = g.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let mut out = OffsetFetchResponseGroup::default();
                out.group_id = g.group_id.clone();
                let fetched = match fetch(broker, ctx, &g.group_id, asked, require_stable) {
                    Ok(fetched) => fetched,
                    Err(denied) => {
                        out.error_code = denied.code();
                        return out;
                    }
                };
                out.topics = fetched
                    .into_iter()
                    .map(|(topic, parts)| {
                        let mut t = OffsetFetchResponseTopics::default();
                        t.name = TopicName(StrBytes::from_string(topic));
                        t.partitions = parts
                            .into_iter()
                            .map(|f| {
                                let mut p = OffsetFetchResponsePartitions::default();
                                p.partition_index = f.partition;
                                p.committed_offset = f.offset;
                                p.committed_leader_epoch = f.leader_epoch;
                                p.metadata = Some(StrBytes::from_string(f.metadata));
                                p.error_code = f.error.map_or(0, |e| e.code());
                                p
                            })
                            .collect();
                        t
                    })
                    .collect();
                out
            })
            .collect();
        return response;
    }
    let asked = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let fetched = match fetch(
        broker,
        ctx,
        &request.group_id,
        asked.clone(),
        require_stable,
    ) {
        Ok(fetched) => fetched,
        // Before v2 there is no top-level error: Kafka answers it in each
        // partition asked for.
        Err(denied) if version < 2 => asked
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partitions)| {
                let denied = partitions
                    .into_iter()
                    .map(|p| Fetched::none(p, Some(denied)))
                    .collect();
                (topic, denied)
            })
            .collect(),
        Err(denied) => {
            response.error_code = denied.code();
            return response;
        }
    };
    response.topics = fetched
        .into_iter()
        .map(|(topic, parts)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(StrBytes::from_string(topic));
            t.partitions = parts
                .into_iter()
                .map(|f| {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = f.partition;
                    p.committed_offset = f.offset;
                    if version >= 5 {
                        p.committed_leader_epoch = f.leader_epoch;
                    }
                    p.metadata = Some(StrBytes::from_string(f.metadata));
                    p.error_code = f.error.map_or(0, |e| e.code());
                    p
                })
                .collect();
            t
        })
        .collect();
    response
}
