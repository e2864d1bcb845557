//! TxnOffsetCommit (v0–v5): a transactional producer commits a consumer
//! group's offsets as part of its transaction; they stay pending until the
//! transaction's outcome reaches the group. In Kafka's order
//! (`KafkaApis.handleTxnOffsetCommitRequest`, the group coordinator's
//! `commitTransactionalOffsets`): unknown topics and partitions are
//! answered UNKNOWN_TOPIC_OR_PARTITION and left out; an empty group id is
//! INVALID_GROUP_ID; then the transaction is verified (KIP-890: the group
//! must be in the producer's open transaction; from v5, whose clients send
//! no AddOffsetsToTxn, the group is added to it here); then the member is
//! checked (v3+ carries generation, member and instance ids); then the
//! offsets are stored pending. A failure of a whole-request step is every
//! remaining partition's error.
//!
//! Verification errors reach each version as Kafka's
//! `AddPartitionsToTxnManager` hands them on: PRODUCER_FENCED as
//! INVALID_PRODUCER_EPOCH, and a group outside the transaction as
//! TRANSACTION_ABORTABLE from v4 (clients that know it) and
//! INVALID_TXN_STATE before.

use fjord_storage::offsets::{CommittedOffset, OffsetEntry};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::acl::AclOperation::Read;
use crate::acl::ResourceType;
use crate::authorization;
use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::groups::{Committer, TxnCommitter};
use crate::request_context::RequestContext;
use crate::transactions::TxnProducer;

/// The first version whose verification adds the group to the
/// transaction (transaction version 2) instead of only checking it.
const ADDS_THE_GROUP_SINCE: i16 = 5;
/// The first version whose clients handle TRANSACTION_ABORTABLE.
const TRANSACTION_ABORTABLE_SINCE: i16 = 4;
/// The transaction version of a client that commits offsets without
/// AddOffsetsToTxn.
const IMPLICIT_ADD_TRANSACTION_VERSION: i16 = 2;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let version = ctx.api_version;
    let now = now_ms();
    // Per partition: Ok(offset) for the coordinator, or its own error.
    let mut checked: Vec<(usize, i32, Result<OffsetEntry, ResponseError>)> = Vec::new();
    // The transactional id was checked before the handler; Kafka then
    // answers every partition with a denied group, then each denied topic.
    let group_denied =
        authorization::require(broker, ctx, Read, ResourceType::Group, &request.group_id);
    for (t, topic) in request.topics.iter().enumerate() {
        let known = broker.topics.get(&topic.name);
        let denied = group_denied.and_then(|()| {
            authorization::require(broker, ctx, Read, ResourceType::Topic, &topic.name)
        });
        for p in &topic.partitions {
            let exists = known
                .as_ref()
                .is_some_and(|k| (0..k.partitions).contains(&p.partition_index));
            let result = if let Err(denied) = denied {
                Err(denied)
            } else if exists {
                Ok(OffsetEntry {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    committed: CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 2 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_timestamp: now,
                        expire_timestamp: -1,
                    },
                })
            } else {
                Err(ResponseError::UnknownTopicOrPartition)
            };
            checked.push((t, p.partition_index, result));
        }
    }
    if checked.iter().any(|(_, _, r)| r.is_ok()) {
        let outcome = commit(broker, version, &request, &checked).await;
        let max_metadata = broker.groups.config().max_metadata_bytes;
        for (_, _, result) in &mut checked {
            let Ok(entry) = result else { continue };
            let error = match outcome {
                Err(code) => Some(code),
                Ok(()) if metadata_too_large(entry, max_metadata) => {
                    Some(ResponseError::OffsetMetadataTooLarge)
                }
                Ok(()) => None,
            };
            if let Some(code) = error {
                *result = Err(code);
            }
        }
    }

    let mut response = TxnOffsetCommitResponse::default();
    response.topics = request
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let mut out = TxnOffsetCommitResponseTopic::default();
            out.name = topic.name.clone();
            out.partitions = checked
                .iter()
                .filter(|(ti, _, _)| *ti == t)
                .map(|(_, partition, result)| {
                    let mut p = TxnOffsetCommitResponsePartition::default();
                    p.partition_index = *partition;
                    p.error_code = result.as_ref().err().map_or(0, |e| e.code());
                    p
                })
                .collect();
            out
        })
        .collect();
    response
}

/// The whole-request steps for the partitions that exist: group id,
/// transaction verification, member check, pending write (metadata that
/// is too long excepted, as Kafka answers it per partition after these).
async fn commit(
    broker: &Broker,
    version: i16,
    request: &TxnOffsetCommitRequest,
    checked: &[(usize, i32, Result<OffsetEntry, ResponseError>)],
) -> Result<(), ResponseError> {
    let group = request.group_id.as_str();
    if group.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let producer = TxnProducer {
        transactional_id: &request.transactional_id,
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
    };
    let as_verified = |code: ResponseError| match code {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < TRANSACTION_ABORTABLE_SINCE => {
            ResponseError::InvalidTxnState
        }
        code => code,
    };
    let transactions = &broker.transactions;
    if version >= ADDS_THE_GROUP_SINCE {
        transactions
            .add(
                producer,
                Vec::new(),
                vec![group.to_string()],
                IMPLICIT_ADD_TRANSACTION_VERSION,
                now_ms(),
            )
            .await
            .map_err(as_verified)?;
    }
    // Held until the offsets are stored: the transaction cannot end
    // before they are, so its outcome completes them.
    let _in_transaction = transactions
        .verify_group(producer, group)
        .await
        .map_err(as_verified)?;
    let who = Committer {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation: request.generation_id,
    };
    let max_metadata = broker.groups.config().max_metadata_bytes;
    let offsets: Vec<OffsetEntry> = checked
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .filter(|e| !metadata_too_large(e, max_metadata))
        .cloned()
        .collect();
    let committer = TxnCommitter {
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
    };
    broker
        .groups
        .commit_transactional(group, &who, committer, offsets)
        .await
}

fn metadata_too_large(entry: &OffsetEntry, max: usize) -> bool {
    entry
        .committed
        .metadata
        .as_ref()
        .is_some_and(|m| m.len() > max)
}
