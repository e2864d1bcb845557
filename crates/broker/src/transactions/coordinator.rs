//! The transaction coordinator's async face: one lock per transactional
//! id, under which a transition is computed (`metadata`), stored, and only
//! then made current; producer ids from `producer_ids`; markers through a
//! [`MarkerWriter`]. Time is passed in (`now_ms`), so tests drive it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fjord_storage::transactions::TransactionStore;
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;

use super::markers::{MarkerWriter, Markers};
use super::metadata::{TransactionMetadata, NO_PRODUCER_EPOCH};
use super::producer_ids::ProducerIds;
use super::state::TxnState;
use super::TransactionConfig;
use crate::groups::group::now_ms;
use crate::groups::persist::persist_error;

/// One transactional id's current (stored) metadata and its store version.
#[derive(Default)]
pub(crate) struct Entry {
    pub(crate) metadata: Option<TransactionMetadata>,
    pub(crate) version: u64,
}

type Slot = Arc<tokio::sync::Mutex<Entry>>;

pub struct TransactionCoordinator {
    config: TransactionConfig,
    store: Arc<dyn TransactionStore>,
    producer_ids: ProducerIds,
    markers: Arc<dyn MarkerWriter>,
    entries: parking_lot::Mutex<HashMap<String, Slot>>,
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

    fn slot(&self, transactional_id: &str) -> Slot {
        Arc::clone(
            self.entries
                .lock()
                .entry(transactional_id.to_string())
                .or_default(),
        )
    }

    /// The stored metadata of a transactional id, if any.
    pub async fn describe(&self, transactional_id: &str) -> Option<TransactionMetadata> {
        let slot = self.entries.lock().get(transactional_id).cloned()?;
        let entry = slot.lock().await;
        entry.metadata.clone()
    }

    /// Stores `next` as the id's metadata (compare-and-set on the entry's
    /// version), then makes it current.
    async fn store(
        &self,
        transactional_id: &str,
        entry: &mut Entry,
        next: TransactionMetadata,
    ) -> Result<(), ResponseError> {
        let version = self
            .store
            .store_transaction(transactional_id, Some(next.encode()), entry.version)
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

    /// Finishes a transaction in PrepareCommit or PrepareAbort: writes its
    /// markers (without holding the id's lock: they may take a while, and
    /// meanwhile the id answers CONCURRENT_TRANSACTIONS), then stores
    /// CompleteCommit or CompleteAbort. On a marker failure it stays
    /// prepared; [`tick`](Self::tick) tries again. Anything else is left
    /// alone.
    pub async fn complete(&self, transactional_id: &str, now_ms: i64) {
        let Some(slot) = self.entries.lock().get(transactional_id).cloned() else {
            return;
        };
        let prepared = {
            let entry = slot.lock().await;
            match &entry.metadata {
                Some(m) if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) => {
                    m.clone()
                }
                _ => return,
            }
        };
        let markers = Markers {
            producer_id: prepared.producer_id,
            producer_epoch: prepared.producer_epoch,
            commit: prepared.state == TxnState::PrepareCommit,
            partitions: prepared.partitions.iter().cloned().collect(),
        };
        if let Err(why) = self.markers.write_markers(&markers).await {
            tracing::warn!(transactional_id, error = %why, "writing transaction markers failed; will retry");
            return;
        }
        let mut entry = slot.lock().await;
        // Nothing else moves a prepared transaction on, but check: the
        // markers written are for this exact state.
        if entry.metadata.as_ref() != Some(&prepared) {
            return;
        }
        let result = prepared
            .prepare_complete(now_ms)
            .map_err(ResponseError::from);
        let stored = match result {
            Ok(next) => self.store(transactional_id, &mut entry, next).await,
            Err(code) => Err(code),
        };
        if let Err(code) = stored {
            tracing::warn!(
                transactional_id,
                ?code,
                "completing a transaction failed; will retry"
            );
        }
    }

    /// Timers and recovery: aborts transactions open past their timeout
    /// (fencing their producer), finishes prepared ones (after a restart,
    /// or when writing markers failed), and removes ids idle for
    /// `transactional.id.expiration.ms`. At start-up `recover` runs the
    /// same with every open transaction treated as timed out.
    pub async fn tick(&self, now_ms: i64) {
        self.sweep(now_ms, false).await;
    }

    /// After a restart: prepared transactions are completed, and open
    /// ones aborted (their producer may be gone with the old process).
    pub async fn recover(&self, now_ms: i64) {
        self.sweep(now_ms, true).await;
    }

    async fn sweep(&self, now_ms: i64, abort_every_open: bool) {
        let ids: Vec<(String, Slot)> = self
            .entries
            .lock()
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        for (id, slot) in ids {
            let mut entry = slot.lock().await;
            let Some(current) = entry.metadata.clone() else {
                continue;
            };
            match current.state {
                TxnState::Ongoing => {
                    let expired =
                        current.start_timestamp_ms + i64::from(current.timeout_ms) <= now_ms;
                    if !(abort_every_open || expired) {
                        continue;
                    }
                    let stored = match current.prepare_fence_and_abort(now_ms) {
                        Ok(abort) => self.store(&id, &mut entry, abort).await,
                        Err(err) => Err(err.into()),
                    };
                    drop(entry);
                    match stored {
                        Ok(()) => self.complete(&id, now_ms).await,
                        Err(code) => {
                            tracing::warn!(transactional_id = %id, ?code, "aborting a timed-out transaction failed; will retry");
                        }
                    }
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    drop(entry);
                    self.complete(&id, now_ms).await;
                }
                state if state.may_expire() => {
                    let idle = now_ms - current.last_update_timestamp_ms;
                    if idle < self.config.id_expiration_ms {
                        continue;
                    }
                    match self.store.store_transaction(&id, None, entry.version).await {
                        Ok(version) => {
                            entry.metadata = None;
                            entry.version = version;
                        }
                        Err(e) => {
                            tracing::warn!(transactional_id = %id, error = %e, "expiring a transactional id failed; will retry");
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Recovers what a previous run left, then checks timeouts and expiry
    /// every `check_interval_ms` until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        self.recover(now_ms()).await;
        let every = Duration::from_millis(self.config.check_interval_ms.max(1) as u64);
        let mut checks = tokio::time::interval(every);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = checks.tick() => self.tick(now_ms()).await,
            }
        }
    }
}
