//! OffsetCommit (v2–v9): member/generation checks, then a durable commit
//! before the answer.

use fjord_storage::offsets::{CommittedOffset, OffsetEntry};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::acl::AclOperation::Read;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::groups::Committer;
use crate::request_context::RequestContext;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = ctx.api_version;
    let now = now_ms();
    let expire_timestamp = if version <= 4 && request.retention_time_ms >= 0 {
        now.saturating_add(request.retention_time_ms)
    } else {
        -1
    };
    let max_metadata = broker.groups.config().max_metadata_bytes;
    // Per partition: Ok(entry) to commit, or its own error.
    let mut checked: Vec<(usize, i32, Result<OffsetEntry, ResponseError>)> = Vec::new();
    for (t, topic) in request.topics.iter().enumerate() {
        let known = broker.topics.get(&topic.name);
        let denied = authorization::require(broker, ctx, Read, ResourceType::Topic, &topic.name);
        for p in &topic.partitions {
            let result = if let Err(denied) = denied {
                Err(denied)
            } else if !known
                .as_ref()
                .is_some_and(|k| (0..k.partitions).contains(&p.partition_index))
            {
                Err(ResponseError::UnknownTopicOrPartition)
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > max_metadata)
            {
                Err(ResponseError::OffsetMetadataTooLarge)
            } else {
                Ok(OffsetEntry {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    committed: CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_timestamp: now,
                        expire_timestamp,
                    },
                })
            };
            checked.push((t, p.partition_index, result));
        }
    }
    let who = Committer {
        member_id: request.member_id.to_string(),
        instance_id: if version >= 7 {
            request.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        generation: request.generation_id_or_member_epoch,
    };
    let valid: Vec<OffsetEntry> = checked
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok().cloned())
        .collect();
    let group_error = broker
        .groups
        .commit(&request.group_id, &who, valid)
        .await
        .err();

    let mut response = OffsetCommitResponse::default();
    response.topics = request
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let mut out = OffsetCommitResponseTopic::default();
            out.name = topic.name.clone();
            out.partitions = checked
                .iter()
                .filter(|(ti, _, _)| *ti == t)
                .map(|(_, partition, result)| {
                    let mut p = OffsetCommitResponsePartition::default();
                    p.partition_index = *partition;
                    let error = match result {
                        Err(e) => Some(*e),
                        Ok(_) => group_error,
                    };
                    p.error_code = error.map_or(0, |e| e.code());
                    p
                })
                .collect();
            out
        })
        .collect();
    response
}
