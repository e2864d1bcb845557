//! Finishing transactions: markers then the Complete state, timeouts,
//! expiry of idle transactional ids, and recovery after a restart.

use std::sync::Arc;
use std::time::Duration;

use fjord_storage::Durability;
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;

use super::coordinator::{Slot, TransactionCoordinator};
use super::markers::Markers;
use super::state::TxnState;
use crate::groups::group::now_ms;

/// What a pass over the transactional ids looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Timeouts, expiry and prepared transactions.
    All,
    /// Prepared transactions and timeouts (every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    Timeouts,
    /// Idle transactional ids (every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`).
    Expiry,
    /// Prepared transactions only (start-up).
    PreparedOnly,
}

impl Sweep {
    fn completes(self) -> bool {
        self != Sweep::Expiry
    }
    fn aborts_timed_out(self) -> bool {
        matches!(self, Sweep::All | Sweep::Timeouts)
    }
    fn expires(self) -> bool {
        matches!(self, Sweep::All | Sweep::Expiry)
    }
}

impl TransactionCoordinator {
    /// Finishes a transaction in PrepareCommit or PrepareAbort: writes its
    /// markers (without holding the id's lock: they may take a while, and
    /// meanwhile the id answers CONCURRENT_TRANSACTIONS), then stores
    /// CompleteCommit or CompleteAbort. On a marker failure it stays
    /// prepared; the next timeout check (or [`tick`](Self::tick)) tries
    /// again. Anything else is left alone.
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
            groups: prepared.groups.iter().cloned().collect(),
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
        // Complete* is not waited for on disk: the markers are, and if a
        // crash loses it, recovery finds the Prepare* state before it and
        // completes the transaction again (a second marker for a finished
        // transaction changes nothing). Any later synced write of the store
        // (the producer's next AddPartitionsToTxn or InitProducerId) makes
        // it durable with itself. Its fsync stole the device from EndTxn's.
        let stored = match result {
            Ok(next) => {
                self.store_with(transactional_id, &mut entry, next, Durability::Written)
                    .await
            }
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

    /// Both checks at once (tests drive the clock through this): aborts
    /// transactions open past their timeout (fencing their producer),
    /// finishes prepared ones (when writing markers failed), and removes
    /// ids idle for `transactional.id.expiration.ms`.
    pub async fn tick(&self, now_ms: i64) {
        self.sweep(now_ms, Sweep::All).await;
    }

    /// After a restart: prepared transactions are completed. Open ones
    /// stay open, as Kafka's coordinator leaves them when it loads its
    /// state: their producer may well have outlived the broker and go on
    /// to commit; if it is gone, the timeout aborts them.
    pub async fn recover(&self, now_ms: i64) {
        self.sweep(now_ms, Sweep::PreparedOnly).await;
    }

    async fn sweep(&self, now_ms: i64, sweep: Sweep) {
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
                TxnState::PrepareCommit | TxnState::PrepareAbort if sweep.completes() => {
                    drop(entry);
                    self.complete(&id, now_ms).await;
                }
                TxnState::Ongoing if sweep.aborts_timed_out() => {
                    let expired =
                        current.start_timestamp_ms + i64::from(current.timeout_ms) <= now_ms;
                    if !expired {
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
                state if state.may_expire() && sweep.expires() => {
                    let idle = now_ms - current.last_update_timestamp_ms;
                    if idle < self.config.id_expiration_ms {
                        continue;
                    }
                    match self
                        .store
                        .store_transaction(&id, None, entry.version, Durability::Synced)
                        .await
                    {
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

    /// Recovers what a previous run left, then checks timeouts every
    /// `check_interval_ms` and expiry every `expiry_check_interval_ms`
    /// (each first after one interval, as Kafka schedules them) until
    /// shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        self.recover(now_ms()).await;
        let timer = |ms: i64| {
            let every = Duration::from_millis(ms.max(1) as u64);
            let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        };
        let mut timeouts = timer(self.config.check_interval_ms);
        let mut expiry = timer(self.config.expiry_check_interval_ms);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = timeouts.tick() => self.sweep(now_ms(), Sweep::Timeouts).await,
                _ = expiry.tick() => self.sweep(now_ms(), Sweep::Expiry).await,
            }
        }
    }
}
