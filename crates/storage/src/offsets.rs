//! Committed consumer-group offsets and group metadata: the state that must
//! survive a kill -9 once a client has been told it is committed.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when the client gave none.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// Broker time (ms) of the commit.
    pub commit_timestamp: i64,
    /// Explicit expiry (OffsetCommit v1 retention), -1 for none.
    pub expire_timestamp: i64,
}

/// One partition's committed offset in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetEntry {
    pub topic: String,
    pub partition: i32,
    pub committed: CommittedOffset,
}

/// A transaction's offsets for one group, waiting for its outcome
/// (TxnOffsetCommit before the commit or abort marker reaches the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffsets {
    pub producer_id: i64,
    /// The newest epoch the producer committed these offsets with.
    pub producer_epoch: i16,
    pub offsets: Vec<OffsetEntry>,
}

#[async_trait]
pub trait OffsetStore: Send + Sync {
    /// Stores the offsets; durable (fsynced, group-committed with concurrent
    /// callers) when it returns Ok. All or nothing.
    async fn commit(&self, group: &str, offsets: Vec<OffsetEntry>) -> Result<()>;
    fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset>;
    /// Every committed offset of the group.
    fn group_offsets(&self, group: &str) -> Vec<OffsetEntry>;
    /// Groups that have committed or pending offsets or stored metadata.
    fn groups(&self) -> Vec<String>;
    /// Stores a transaction's offsets as pending for the group, durably:
    /// invisible to `fetch` and `group_offsets` until
    /// [`complete_transaction`](Self::complete_transaction) commits them.
    /// Refused with [`InvalidProducerEpoch`](crate::StorageError::InvalidProducerEpoch)
    /// if the producer already has pending offsets in the group at a newer
    /// epoch.
    async fn commit_pending(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<OffsetEntry>,
    ) -> Result<()>;
    /// The outcome of the producer's transaction for the group, durable when
    /// Ok: commit makes its pending offsets the committed ones (except where
    /// a commit recorded after them already replaced them: the newest
    /// commit wins, as in Kafka's log), abort drops them. Without pending
    /// offsets (already completed, deleted) it changes nothing. A marker
    /// older than the pending offsets' epoch is refused with
    /// [`InvalidProducerEpoch`](crate::StorageError::InvalidProducerEpoch).
    async fn complete_transaction(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<()>;
    /// The group's pending transactional offsets, by producer id.
    fn pending_offsets(&self, group: &str) -> Vec<PendingOffsets>;
    /// Removes the given partitions' offsets of a group, pending
    /// transactional ones too (OffsetDelete, expiry).
    async fn delete_offsets(&self, group: &str, partitions: &[(String, i32)]) -> Result<()>;
    /// Removes a group's offsets (pending ones too) and metadata (DeleteGroups).
    async fn delete_group(&self, group: &str) -> Result<()>;
    /// Removes every group's offsets for a topic, pending ones too (DeleteTopics).
    async fn delete_topic(&self, topic: &str) -> Result<()>;
    /// Stores (Some) or clears (None) the coordinator's opaque serialized
    /// state for a group, durably, if its version is still `expected` (the
    /// version the writer read; 0 for a group never stored): a
    /// compare-and-set, so that writers sharing a store cannot lose each
    /// other's updates. A stale `expected` fails with
    /// [`StaleGroupState`](crate::StorageError::StaleGroupState) and changes
    /// nothing. Returns the new version.
    async fn store_group_metadata(
        &self,
        group: &str,
        metadata: Option<Vec<u8>>,
        expected: u64,
    ) -> Result<u64>;
    /// The version of a group's stored state (0 if never stored); every
    /// write, clear or group deletion moves it on. Versions are comparable
    /// only within one store's lifetime: the local store numbers them anew
    /// when it is opened.
    fn group_state_version(&self, group: &str) -> u64;
    /// Every group's stored metadata, for the coordinator at start-up.
    fn group_metadata(&self) -> Vec<(String, Vec<u8>)>;
}
