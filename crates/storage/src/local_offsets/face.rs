//! The [`OffsetStore`] face of both offset stores (the local one and the
//! in-memory one), written once over what they share: the replayed
//! [`State`] to read, and a way to apply a mutation to it.

use async_trait::async_trait;
use parking_lot::RwLockReadGuard;

use super::codec::Mutation;
use super::state::State;
use crate::error::Result;
use crate::offsets::{CommittedOffset, OffsetEntry, OffsetStore, PendingOffsets};

#[async_trait]
pub(crate) trait MutationLog: Send + Sync {
    /// Applies the mutation (durably, for the local store) unless the
    /// state refuses it or the group's metadata is no longer at the
    /// `expected` version; returns that group's version after it (0 when
    /// none is expected).
    async fn mutate_if(&self, mutation: Mutation, expected: Option<(&str, u64)>) -> Result<u64>;
    fn state(&self) -> RwLockReadGuard<'_, State>;
}

async fn mutate(log: &(impl MutationLog + ?Sized), mutation: Mutation) -> Result<()> {
    log.mutate_if(mutation, None).await.map(drop)
}

#[async_trait]
impl<L: MutationLog> OffsetStore for L {
    async fn commit(&self, group: &str, offsets: Vec<OffsetEntry>) -> Result<()> {
        let group = group.to_string();
        mutate(self, Mutation::Commit { group, offsets }).await
    }

    fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.state().fetch(group, topic, partition)
    }

    fn group_offsets(&self, group: &str) -> Vec<OffsetEntry> {
        self.state().group_offsets(group)
    }

    fn groups(&self) -> Vec<String> {
        self.state().groups()
    }

    async fn commit_pending(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<OffsetEntry>,
    ) -> Result<()> {
        let group = group.to_string();
        let mutation = Mutation::PendingCommit {
            group,
            producer_id,
            producer_epoch,
            offsets,
        };
        mutate(self, mutation).await
    }

    async fn complete_transaction(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<()> {
        let group = group.to_string();
        let mutation = Mutation::EndTransaction {
            group,
            producer_id,
            producer_epoch,
            commit,
        };
        mutate(self, mutation).await
    }

    fn pending_offsets(&self, group: &str) -> Vec<PendingOffsets> {
        self.state().pending_offsets(group)
    }

    async fn delete_offsets(&self, group: &str, partitions: &[(String, i32)]) -> Result<()> {
        let group = group.to_string();
        let partitions = partitions.to_vec();
        mutate(self, Mutation::DeleteOffsets { group, partitions }).await
    }

    async fn delete_group(&self, group: &str) -> Result<()> {
        let group = group.to_string();
        mutate(self, Mutation::DeleteGroup { group }).await
    }

    async fn delete_topic(&self, topic: &str) -> Result<()> {
        let topic = topic.to_string();
        mutate(self, Mutation::DeleteTopic { topic }).await
    }

    async fn store_group_metadata(
        &self,
        group: &str,
        metadata: Option<Vec<u8>>,
        expected: u64,
    ) -> Result<u64> {
        let name = group.to_string();
        let mutation = match metadata {
            Some(metadata) => Mutation::SetMetadata {
                group: name,
                metadata,
            },
            None => Mutation::ClearMetadata { group: name },
        };
        self.mutate_if(mutation, Some((group, expected))).await
    }

    fn group_state_version(&self, group: &str) -> u64 {
        self.state().metadata_version(group)
    }

    fn group_metadata(&self) -> Vec<(String, Vec<u8>)> {
        self.state().group_metadata()
    }
}
