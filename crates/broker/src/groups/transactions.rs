//! Transactional offset commits on the coordinator: TxnOffsetCommit's
//! member checks, offsets pending per (group, producer id) until the
//! transaction's outcome reaches the group, and what `require_stable`
//! asks about them. The pending offsets live in the OffsetStore (durable,
//! replayed at start-up), so an outcome the transaction coordinator
//! re-sends after a restart still finds them.

use std::collections::HashSet;

use fjord_storage::offsets::OffsetEntry;
use kafka_protocol::error::ResponseError;

use super::coordinator::GroupCoordinator;
use super::group::Group;
use super::offsets::Committer;
use super::persist::persist_error;
use super::state::GroupState;

/// The producer whose transaction commits offsets.
#[derive(Debug, Clone, Copy)]
pub struct TxnCommitter {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl Group {
    /// Whether a TxnOffsetCommit from this member and generation is
    /// accepted, as Kafka's `validateOffsetCommit` judges a transactional
    /// one: without generation, member or instance id (v0–v2, or a
    /// producer outside any group) it always is; otherwise the member must
    /// be the current one of the current generation. Unlike a plain
    /// commit it is accepted during CompletingRebalance, and it does not
    /// count as a heartbeat.
    pub fn check_txn_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if let Some(instance) = instance_id {
                if !self.static_members.contains_key(instance) {
                    return Err(ResponseError::UnknownMemberId);
                }
            }
            self.check_member(member_id, instance_id, generation)?;
        }
        Ok(())
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit, once the transaction coordinator has verified the
    /// producer: checks the committer, then stores the offsets as the
    /// producer's pending ones, durably.
    pub async fn commit_transactional(
        &self,
        group_id: &str,
        who: &Committer,
        producer: TxnCommitter,
        offsets: Vec<OffsetEntry>,
    ) -> Result<(), ResponseError> {
        let slot = self.commit_slot(group_id, who.generation)?;
        slot.state.lock().check_txn_commit(
            &who.member_id,
            who.instance_id.as_deref(),
            who.generation,
        )?;
        if offsets.is_empty() {
            return Ok(());
        }
        self.store
            .commit_pending(
                group_id,
                producer.producer_id,
                producer.producer_epoch,
                offsets,
            )
            .await
            .map_err(|e| {
                tracing::warn!(group = group_id, producer_id = producer.producer_id, error = %e, "storing transactional offsets failed");
                persist_error(e)
            })
    }

    /// The transaction's outcome reaching the group (what Kafka's commit or
    /// abort marker in `__consumer_offsets` does): commit makes the
    /// producer's pending offsets the group's committed ones, unless a
    /// commit made after them replaced them already; abort drops them.
    /// Durable when Ok. Idempotent: for a transaction already completed (or
    /// whose offsets were deleted meanwhile) it changes nothing. A marker
    /// from an epoch older than the pending offsets' is refused
    /// (`StorageError::InvalidProducerEpoch`, INVALID_PRODUCER_EPOCH).
    pub async fn complete_transaction(
        &self,
        group_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> fjord_storage::Result<()> {
        self.store
            .complete_transaction(group_id, producer_id, producer_epoch, commit)
            .await?;
        if commit && self.slot(group_id).is_none() && !self.store.group_offsets(group_id).is_empty()
        {
            // Committed offsets belong to a group the coordinator knows.
            self.slot_or_create(group_id);
        }
        Ok(())
    }

    /// Partitions of the group with a pending transactional offset from any
    /// producer (OffsetFetch's `require_stable`, offset expiry).
    pub fn pending_partitions(&self, group_id: &str) -> HashSet<(String, i32)> {
        self.store
            .pending_offsets(group_id)
            .into_iter()
            .flat_map(|txn| txn.offsets)
            .map(|entry| (entry.topic, entry.partition))
            .collect()
    }
}
