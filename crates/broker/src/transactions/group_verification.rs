//! TxnOffsetCommit's check against the producer's transaction: Kafka's
//! group coordinator verifies (KIP-890) that the group's offsets partition
//! was added to the open transaction (by AddOffsetsToTxn, or implicitly by
//! a version-5 TxnOffsetCommit) before it appends the offsets, and a
//! verification guard keeps the transaction from ending between the check
//! and the append. Here the group itself is what the transaction holds,
//! and the guard is the transactional id's lock.

use kafka_protocol::error::ResponseError;
use tokio::sync::OwnedMutexGuard;

use super::coordinator::{Entry, TransactionCoordinator};
use super::requests::{current_for, TxnProducer};
use super::state::TxnState;

/// Proof that the group is in the producer's open transaction; while it is
/// held the transaction cannot end (EndTxn, a timeout or a fencing wait),
/// so offsets written under it are completed by that transaction's outcome.
pub struct GroupInTransaction {
    _entry: OwnedMutexGuard<Entry>,
}

impl TransactionCoordinator {
    /// Ok with the guard when the request's producer is the transactional
    /// id's current one and its open transaction covers `group`; otherwise
    /// INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
    /// CONCURRENT_TRANSACTIONS (its outcome is being written), or
    /// TRANSACTION_ABORTABLE when the group is not in it (Kafka's
    /// verify-only answer for a partition outside the transaction).
    pub async fn verify_group(
        &self,
        producer: TxnProducer<'_>,
        group: &str,
    ) -> Result<GroupInTransaction, ResponseError> {
        if producer.transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let slot = self
            .entries
            .lock()
            .get(producer.transactional_id)
            .cloned()
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let entry = slot.lock_owned().await;
        let current = current_for(&entry, &producer)?;
        if matches!(
            current.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort
        ) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if current.state != TxnState::Ongoing || !current.groups.contains(group) {
            return Err(ResponseError::TransactionAbortable);
        }
        Ok(GroupInTransaction { _entry: entry })
    }
}
