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

#[async_trait]
pub trait OffsetStore: Send + Sync {
    /// Stores the offsets; durable (fsynced, group-committed with concurrent
    /// callers) when it returns Ok. All or nothing.
    async fn commit(&self, group: &str, offsets: Vec<OffsetEntry>) -> Result<()>;
    fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset>;
    /// Every committed offset of the group.
    fn group_offsets(&self, group: &str) -> Vec<OffsetEntry>;
    /// Groups that have committed offsets or stored metadata.
    fn groups(&self) -> Vec<String>;
    /// Removes the given partitions' offsets of a group (OffsetDelete, expiry).
    async fn delete_offsets(&self, group: &str, partitions: &[(String, i32)]) -> Result<()>;
    /// Removes a group's offsets and metadata (DeleteGroups).
    async fn delete_group(&self, group: &str) -> Result<()>;
    /// Removes every group's offsets for a topic (DeleteTopics).
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
