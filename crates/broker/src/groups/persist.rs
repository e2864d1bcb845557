//! Writing a group's state to the OffsetStore before answering the requests
//! that depend on it, in the group's own order.

use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use tokio::time::Instant;

use crate::error::ApiError;

use super::coordinator::{GroupCoordinator, GroupSlot};
use super::group::Reply;
use super::state::GroupState;

/// The error a request gets when its group's state could not be stored:
/// the storage error's code, then normalized as Kafka's coordinator does a
/// failed append to its log (a storage failure answers NOT_COORDINATOR, so
/// the client looks the coordinator up again and retries).
pub(crate) fn persist_error(err: StorageError) -> ResponseError {
    match ApiError::from(err).code {
        ResponseError::UnknownTopicOrPartition
        | ResponseError::NotEnoughReplicas
        | ResponseError::RequestTimedOut => ResponseError::CoordinatorNotAvailable,
        ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => {
            ResponseError::NotCoordinator
        }
        ResponseError::MessageTooLarge
        | ResponseError::RecordListTooLarge
        | ResponseError::InvalidFetchSize => ResponseError::UnknownServerError,
        code => code,
    }
}

impl GroupCoordinator {
    /// Stores the group's state if it changed, then sends the answers its
    /// transitions produced: as made if the state is durable, else each
    /// with the write's error. Writes of one group are ordered; groups
    /// don't wait for each other.
    pub(crate) async fn settle(&self, slot: &GroupSlot) -> Result<(), ResponseError> {
        let _order = slot.persist.lock().await;
        let (id, snapshot, expected, replies) = {
            let mut group = slot.state.lock();
            let snapshot = if std::mem::take(&mut group.dirty) {
                group.snapshot()
            } else {
                None
            };
            let replies = std::mem::take(&mut group.outbox);
            (group.id.clone(), snapshot, group.stored_version, replies)
        };
        let Some(blob) = snapshot else {
            replies.into_iter().for_each(Reply::send);
            return Ok(());
        };
        match self
            .store
            .store_group_metadata(&id, Some(blob), expected)
            .await
        {
            Ok(version) => {
                slot.state.lock().stored_version = version;
                replies.into_iter().for_each(Reply::send);
                Ok(())
            }
            Err(e) => {
                tracing::error!(group = %id, error = %e, "storing group state failed");
                let code = persist_error(e);
                for reply in replies {
                    reply.fail(code);
                }
                // Memory is ahead of the store: members rejoin, and the
                // generation that comes of it is written again.
                self.on_group(slot, |group| {
                    if group.state == GroupState::Stable {
                        group.trigger_rebalance(Instant::now(), std::time::Duration::ZERO);
                    }
                });
                let more = std::mem::take(&mut slot.state.lock().outbox);
                for reply in more {
                    reply.fail(code);
                }
                Err(code)
            }
        }
    }
}
