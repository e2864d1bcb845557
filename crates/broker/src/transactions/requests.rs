//! What a transactional producer asks of its open transaction:
//! AddPartitionsToTxn and AddOffsetsToTxn (`add`), the brokers' KIP-890
//! verification (`verify`), and EndTxn (`end`), each checked as Kafka's
//! `TransactionCoordinator` checks it.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::coordinator::{Entry, ProducerIdAndEpoch, TransactionCoordinator};
use super::metadata::{TopicPartition, TransactionMetadata};
use super::state::TxnState;
use crate::groups::persist::persist_error;

/// The producer a request comes from.
#[derive(Debug, Clone, Copy)]
pub struct TxnProducer<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub epoch: i16,
}

/// The id's metadata, if the request's producer is its current one: an
/// unknown id or another producer id is INVALID_PRODUCER_ID_MAPPING, an
/// older epoch PRODUCER_FENCED.
pub(super) fn current_for<'e>(
    entry: &'e Entry,
    producer: &TxnProducer<'_>,
) -> Result<&'e TransactionMetadata, ResponseError> {
    let metadata = entry
        .metadata
        .as_ref()
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    if metadata.producer_id != producer.producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if metadata.producer_epoch != producer.epoch {
        return Err(ResponseError::ProducerFenced);
    }
    Ok(metadata)
}

impl TransactionCoordinator {
    /// AddPartitionsToTxn (partitions) and AddOffsetsToTxn (a group): the
    /// transaction is open and covers them once this returns Ok.
    pub async fn add(
        &self,
        producer: TxnProducer<'_>,
        partitions: Vec<TopicPartition>,
        groups: Vec<String>,
        client_transaction_version: i16,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if producer.transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let slot = self.slot(producer.transactional_id);
        let mut entry = slot.lock().await;
        let current = current_for(&entry, &producer)?;
        if matches!(
            current.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort
        ) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        let covered = current.state == TxnState::Ongoing
            && partitions.iter().all(|p| current.partitions.contains(p))
            && groups.iter().all(|g| current.groups.contains(g));
        if covered {
            return Ok(());
        }
        let next = current.prepare_add(partitions, groups, client_transaction_version, now_ms)?;
        self.store(producer.transactional_id, &mut entry, next)
            .await
    }

    /// A broker checking, before it appends a transactional batch, that
    /// the partition is in the producer's open transaction (KIP-890,
    /// AddPartitionsToTxn v4+ verify-only): per partition, NONE when it
    /// is, TRANSACTION_ABORTABLE when not (as Kafka's
    /// `handleVerifyPartitionsInTransaction`; the produce path answers it
    /// to older clients as INVALID_TXN_STATE); the producer's own errors
    /// for all.
    pub async fn verify(
        &self,
        producer: TxnProducer<'_>,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, Result<(), ResponseError>)> {
        let slot = self.entries.lock().get(producer.transactional_id).cloned();
        let outcome = match slot {
            None => Err(ResponseError::InvalidProducerIdMapping),
            Some(slot) => {
                let entry = slot.lock().await;
                current_for(&entry, &producer).and_then(|current| {
                    if matches!(
                        current.state,
                        TxnState::PrepareCommit | TxnState::PrepareAbort
                    ) {
                        Err(ResponseError::ConcurrentTransactions)
                    } else {
                        Ok(current.partitions.clone())
                    }
                })
            }
        };
        partitions
            .iter()
            .map(|partition| {
                let verdict = match &outcome {
                    Ok(open) if open.contains(partition) => Ok(()),
                    Ok(_) => Err(ResponseError::TransactionAbortable),
                    Err(code) => Err(*code),
                };
                (partition.clone(), verdict)
            })
            .collect()
    }

    /// EndTxn: once the decision is stored the producer is answered, and
    /// the markers are written in the background (InitProducerId and
    /// AddPartitionsToTxn answer CONCURRENT_TRANSACTIONS until they are).
    /// A retry of a decision already taken gets the same answer; the other
    /// decision is INVALID_TXN_STATE. With transaction version 2 the
    /// answer carries the bumped epoch (or the next producer id at epoch 0
    /// when the epochs ran out).
    pub async fn end(
        self: &Arc<Self>,
        producer: TxnProducer<'_>,
        commit: bool,
        client_transaction_version: i16,
        now_ms: i64,
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        let id = producer.transactional_id;
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let slot = self.slot(id);
        let mut entry = slot.lock().await;
        let metadata = entry
            .metadata
            .as_ref()
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let answer_of = |m: &TransactionMetadata| match m.next_producer_id {
            next if next >= 0 => ProducerIdAndEpoch {
                producer_id: next,
                epoch: 0,
            },
            _ => ProducerIdAndEpoch {
                producer_id: m.producer_id,
                epoch: m.producer_epoch,
            },
        };
        // A version-2 retry comes at the epoch before the bump it caused.
        let retry = client_transaction_version >= 2
            && metadata.producer_id == producer.producer_id
            && producer.epoch == metadata.last_producer_epoch
            && metadata.producer_epoch == producer.epoch.saturating_add(1);
        if !retry {
            current_for(&entry, &producer)?;
        }
        let decided = |state: TxnState| match state {
            TxnState::PrepareCommit | TxnState::CompleteCommit => Some(true),
            TxnState::PrepareAbort | TxnState::CompleteAbort => Some(false),
            _ => None,
        };
        match metadata.state {
            TxnState::CompleteCommit | TxnState::CompleteAbort
                if decided(metadata.state) == Some(commit) =>
            {
                return Ok(answer_of(metadata))
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort
                if decided(metadata.state) == Some(commit) =>
            {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Ongoing => {}
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                if !commit && client_transaction_version >= 2 && !retry => {}
            _ => return Err(ResponseError::InvalidTxnState),
        }
        let needs_new_id = client_transaction_version >= 2
            && super::metadata::is_epoch_exhausted(metadata.producer_epoch.saturating_add(1));
        let next_producer_id = if needs_new_id {
            Some(self.producer_ids.next().await.map_err(persist_error)?)
        } else {
            None
        };
        let next =
            metadata.prepare_end(commit, client_transaction_version, next_producer_id, now_ms)?;
        let answer = answer_of(&next);
        self.store(id, &mut entry, next).await?;
        drop(entry);
        let coordinator = Arc::clone(self);
        let id = id.to_string();
        tokio::spawn(async move { coordinator.complete(&id, now_ms).await });
        Ok(answer)
    }
}
