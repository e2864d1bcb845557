//! The broker's [`MarkerWriter`]: a control batch into each data partition
//! of the transaction through its `Log`, and the outcome handed to the
//! group coordinator for each group whose offsets the transaction commits.
//! Every partition and group is done at once, so a transaction over many
//! partitions waits for its slowest fsync, not for the sum of them.

use std::sync::Arc;

use async_trait::async_trait;
use fjord_storage::meta::MetadataStore;
use fjord_storage::{LogStore, StorageError, TxnMarker};
use futures::future::join_all;

use super::markers::{MarkerWriter, Markers};
use crate::groups::GroupCoordinator;

/// Fjord runs one transaction coordinator, whose epoch never changes.
pub const COORDINATOR_EPOCH: i32 = 0;

pub struct LogMarkers {
    meta: Arc<dyn MetadataStore>,
    logs: Arc<dyn LogStore>,
    groups: Arc<GroupCoordinator>,
}

impl LogMarkers {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        logs: Arc<dyn LogStore>,
        groups: Arc<GroupCoordinator>,
    ) -> Self {
        LogMarkers { meta, logs, groups }
    }

    async fn mark_partition(
        &self,
        topic: &str,
        partition: i32,
        marker: TxnMarker,
    ) -> Result<(), String> {
        // A topic or partition deleted since it joined the transaction has
        // nothing left to mark.
        let log = self
            .meta
            .topic_id(topic)
            .and_then(|id| self.logs.partition(id, partition));
        let Some(log) = log else {
            tracing::debug!(
                topic,
                partition,
                "transaction marker skipped: the partition is gone"
            );
            return Ok(());
        };
        match log.append_marker(marker).await {
            Ok(_) => Ok(()),
            // The partition already knows a newer epoch of this producer:
            // a newer marker ended whatever this one would, and writing
            // again can never succeed.
            Err(StorageError::InvalidProducerEpoch(why)) => {
                tracing::warn!(topic, partition, producer_id = marker.producer_id, %why, "transaction marker superseded by a newer epoch");
                Ok(())
            }
            Err(StorageError::UnknownPartition { .. }) => Ok(()),
            Err(e) => Err(format!("{topic}-{partition}: {e}")),
        }
    }
}

#[async_trait]
impl MarkerWriter for LogMarkers {
    async fn write_markers(&self, markers: &Markers) -> Result<(), String> {
        let marker = TxnMarker {
            producer_id: markers.producer_id,
            producer_epoch: markers.producer_epoch,
            commit: markers.commit,
            coordinator_epoch: COORDINATOR_EPOCH,
        };
        let partitions = markers
            .partitions
            .iter()
            .map(|(topic, partition)| self.mark_partition(topic, *partition, marker));
        let groups = markers.groups.iter().map(|group| async move {
            let completed = self
                .groups
                .complete_transaction(group, marker.producer_id, marker.producer_epoch, marker.commit)
                .await;
            match completed {
                Ok(()) => Ok(()),
                // As for a partition: a newer epoch already decided them.
                Err(StorageError::InvalidProducerEpoch(why)) => {
                    tracing::warn!(group, producer_id = marker.producer_id, %why, "transaction outcome for a group superseded by a newer epoch");
                    Ok(())
                }
                Err(e) => Err(format!("group {group:?}: {e}")),
            }
        });
        let (partitions, groups) = futures::join!(join_all(partitions), join_all(groups));
        let failures: Vec<String> = partitions
            .into_iter()
            .chain(groups)
            .filter_map(Result::err)
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}
