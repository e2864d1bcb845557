//! The transaction coordinator's async face: one lock per transactional
//! id, under which a transition is computed (`metadata`), stored, and only
//! then made current; producer ids from `producer_ids`; markers through a
//! [`MarkerWriter`]. Time is passed in (`now_ms`), so tests drive it.

use std::collections::HashMap;
use std::sync::Arc;

use fjord_storage::transactions::TransactionStore;
use fjord_storage::Durability;
use kafka_protocol::error::ResponseError;

use super::markers::MarkerWriter;
use super::metadata::{TransactionMetadata, NO_PRODUCER_EPOCH};
use super::producer_ids::ProducerIds;
use super::state::TxnState;
use super::TransactionConfig;
use crate::groups::persist::persist_error;

/// One transactional id's current (stored) metadata and its store version.
pub(crate) struct Entry {
    pub(crate) metadata: Option<TransactionMetadata>,
    pub(crate) version: u64,
}

pub(crate) type Slot = Arc<tokio::sync::Mutex<Entry>>;

pub struct TransactionCoordinator {
    pub(crate) config: TransactionConfig,
    pub(crate) store: Arc<dyn TransactionStore>,
    pub(crate) producer_ids: ProducerIds,
    pub(crate) markers: Arc<dyn MarkerWriter>,
    pub(crate) entries: parking_lot::Mutex<HashMap<String, Slot>>,
}

/// A producer id and epoch, as InitProducerId answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

impl TransactionCoordinator {
    /// A coordinator over what `store` holds. Fails on a stored state this
    /// code cannot read (as the offset store refuses to open on one).
    pub fn new(
        config: TransactionConfig,
        store: Arc<dyn TransactionStore>,
        markers: Arc<dyn MarkerWriter>,
    ) -> Result<Self, String> {
        let mut entries = HashMap::new();
        for stored in store.transactions() {
            let metadata = TransactionMetadata::decode(&stored.state)
                .map_err(|e| format!("transactional id {:?}: {e}", stored.transactional_id))?;
            let entry = Entry {
                metadata: Some(metadata),
                version: stored.version,
            };
            entries.insert(
                stored.transactional_id,
                Arc::new(tokio::sync::Mutex::new(entry)),
            );
        }
        Ok(TransactionCoordinator {
            config,
            producer_ids: ProducerIds::new(Arc::clone(&store)),
            store,
            markers,
            entries: parking_lot::Mutex::new(entries),
        })
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    pub(crate) fn slot(&self, transactional_id: &str) -> Slot {
        let mut entries = self.entries.lock();
        let slot = entries
            .entry(transactional_id.to_string())
            .or_insert_with(|| {
                // An id removed before (expired) has a version to compare with.
                let version = self.store.transaction_version(transactional_id);
                Arc::new(tokio::sync::Mutex::new(Entry {
                    metadata: None,
                    version,
                }))
            });
        Arc::clone(slot)
    }

    /// The stored metadata of a transactional id, if any.
    pub async fn describe(&self, transactional_id: &str) -> Option<TransactionMetadata> {
        let slot = self.entries.lock().get(transactional_id).cloned()?;
        let entry = slot.lock().await;
        entry.metadata.clone()
    }

    /// Stores `next` as the id's metadata durably (compare-and-set on the
    /// entry's version), then makes it current.
    pub(crate) async fn store(
        &self,
        transactional_id: &str,
        entry: &mut Entry,
        next: TransactionMetadata,
    ) -> Result<(), ResponseError> {
        self.store_with(transactional_id, entry, next, Durability::Synced)
            .await
    }

    /// As [`store`](Self::store), with the durability given.
    pub(crate) async fn store_with(
        &self,
        transactional_id: &str,
        entry: &mut Entry,
        next: TransactionMetadata,
        durability: Durability,
    ) -> Result<(), ResponseError> {
        let version = self
            .store
            .store_transaction(
                transactional_id,
                Some(next.encode()),
                entry.version,
                durability,
            )
            .await
            .map_err(|e| {
                tracing::error!(transactional_id, error = %e, "storing transaction state failed");
                persist_error(e)
            })?;
        entry.metadata = Some(next);
        entry.version = version;
        Ok(())
    }

    /// A fresh producer id (epoch 0) for a producer without a
    /// transactional id: Kafka hands out a new one on every call, even
    /// when the request names its current id and epoch.
    pub async fn new_idempotent_producer(&self) -> Result<ProducerIdAndEpoch, ResponseError> {
        let producer_id = self.producer_ids.next().await.map_err(persist_error)?;
        Ok(ProducerIdAndEpoch {
            producer_id,
            epoch: 0,
        })
    }

    /// InitProducerId with a transactional id, as Kafka's
    /// `TransactionCoordinator.handleInitProducerId`: a new id gets a
    /// producer id at epoch 0; a known one the next epoch (fencing older
    /// producers of it), a new producer id once the epoch is exhausted,
    /// and an open transaction is aborted first (answered
    /// CONCURRENT_TRANSACTIONS, so the client retries once it is).
    /// `expected` is the producer's current id and epoch (KIP-360).
    /// PRODUCER_FENCED is returned as such; the handler answers it as
    /// INVALID_PRODUCER_EPOCH to clients older than v4.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        now_ms: i64,
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let slot = self.slot(transactional_id);
        let mut entry = slot.lock().await;
        let current = match &entry.metadata {
            Some(metadata) => metadata.clone(),
            None => {
                let producer_id = self.producer_ids.next().await.map_err(persist_error)?;
                TransactionMetadata::new(producer_id, timeout_ms, now_ms)
            }
        };
        if let Some(expected) = expected {
            let recognised = current.producer_epoch == NO_PRODUCER_EPOCH
                || expected.producer_id == current.producer_id
                || (expected.producer_id == current.previous_producer_id
                    && super::metadata::is_epoch_exhausted(expected.epoch));
            if !recognised {
                return Err(ResponseError::ProducerFenced);
            }
        }
        let next = match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = current.is_epoch_exhausted()
                    && expected.is_none_or(|e| e.epoch == current.producer_epoch);
                if rotate {
                    let producer_id = self.producer_ids.next().await.map_err(persist_error)?;
                    current.prepare_producer_id_rotation(
                        producer_id,
                        timeout_ms,
                        now_ms,
                        expected.is_some(),
                    )?
                } else {
                    current.prepare_epoch_bump(timeout_ms, expected.map(|e| e.epoch), now_ms)?
                }
            }
            TxnState::Ongoing => {
                let abort = current.prepare_fence_and_abort(now_ms)?;
                self.store(transactional_id, &mut entry, abort).await?;
                drop(entry);
                let coordinator = Arc::clone(self);
                let id = transactional_id.to_string();
                tokio::spawn(async move { coordinator.complete(&id, now_ms).await });
                return Err(ResponseError::ConcurrentTransactions);
            }
            TxnState::Dead | TxnState::PrepareEpochFence => {
                tracing::error!(
                    transactional_id,
                    state = current.state.name(),
                    "transactional id in a state that is never stored"
                );
                return Err(ResponseError::UnknownServerError);
            }
        };
        let answer = ProducerIdAndEpoch {
            producer_id: next.producer_id,
            epoch: next.producer_epoch,
        };
        self.store(transactional_id, &mut entry, next).await?;
        Ok(answer)
    }
}
