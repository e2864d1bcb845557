//! Writing a transaction's outcome into its partitions: the coordinator
//! hands the marker writing to this trait, so it stays a state machine
//! with no log I/O of its own, and tests count the markers.

use async_trait::async_trait;

use super::metadata::TopicPartition;

/// What every marker of one transaction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
    /// Groups whose transactional offset commits the outcome decides.
    pub groups: Vec<String>,
}

#[async_trait]
pub trait MarkerWriter: Send + Sync {
    /// Appends a commit or abort control batch for the producer to each
    /// partition; Ok once every one is durable. Called again for the same
    /// transaction after a failure or a restart, so a partition may get
    /// the same marker twice (a second marker of a decided transaction
    /// changes nothing for readers). A partition that no longer exists is
    /// skipped, not an error.
    async fn write_markers(&self, markers: &Markers) -> Result<(), String>;
}
