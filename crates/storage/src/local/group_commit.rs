//! Group commit: concurrent `Durability::Synced` appends share one fsync.
//!
//! The state is a flushed offset (everything below it is on disk) plus a
//! "flush in progress" flag, kept in a `watch` channel so waiters are woken
//! when either changes. An append that needs offset N durable loops:
//! - flushed >= N: done;
//! - no flush running: it becomes the flusher, fsyncs everything written so
//!   far (which covers every waiter whose write happened before) and
//!   publishes the new flushed offset;
//! - otherwise it waits for the running flush to finish and checks again.
//!
//! A failed fsync is returned to the flusher; the partition marks itself
//! failed (see `LocalPartitionLog::flush_once`), so waiters that retry get the
//! failure too instead of a later fsync wrongly reporting success.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::error::{Result, StorageError};

#[derive(Debug, Clone, Copy)]
struct FlushState {
    /// Every offset below this is fsynced.
    flushed_offset: i64,
    in_progress: bool,
}

pub(crate) struct GroupCommit {
    state: watch::Sender<FlushState>,
    fsyncs: AtomicU64,
}

/// Clears the in-progress flag even if the flushing append is cancelled
/// mid-flush (its caller went away), so other waiters are not stuck.
struct InProgressGuard<'a> {
    state: &'a watch::Sender<FlushState>,
    flushed_to: Option<i64>,
}

impl Drop for InProgressGuard<'_> {
    fn drop(&mut self) {
        let flushed_to = self.flushed_to;
        self.state.send_modify(|s| {
            s.in_progress = false;
            if let Some(offset) = flushed_to {
                s.flushed_offset = s.flushed_offset.max(offset);
            }
        });
    }
}

impl GroupCommit {
    /// `flushed_offset`: offsets below it are already durable (e.g. recovered).
    pub(crate) fn new(flushed_offset: i64) -> Self {
        GroupCommit {
            state: watch::Sender::new(FlushState {
                flushed_offset,
                in_progress: false,
            }),
            fsyncs: AtomicU64::new(0),
        }
    }

    /// How many flushes have run (tests check that appends shared them).
    pub(crate) fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Returns once every offset below `needed` is durable. `flush` fsyncs all
    /// data written so far and returns the offset it covers.
    pub(crate) async fn wait_durable<F, Fut>(&self, needed: i64, flush: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<i64>>,
    {
        let mut receiver = self.state.subscribe();
        loop {
            let mut become_flusher = false;
            let mut already_durable = false;
            self.state.send_if_modified(|s| {
                if s.flushed_offset >= needed {
                    already_durable = true;
                    false
                } else if s.in_progress {
                    false
                } else {
                    s.in_progress = true;
                    become_flusher = true;
                    true
                }
            });
            if already_durable {
                return Ok(());
            }
            if become_flusher {
                let mut guard = InProgressGuard {
                    state: &self.state,
                    flushed_to: None,
                };
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                guard.flushed_to = Some(flush().await?);
                drop(guard);
                continue;
            }
            // A flush is running: wait for it to end (or to cover us), then re-check.
            let waited = receiver
                .wait_for(|s| !s.in_progress || s.flushed_offset >= needed)
                .await;
            if waited.is_err() {
                // Only possible if the sender is gone, i.e. the log was dropped.
                return Err(StorageError::Io(std::io::Error::other(
                    "partition log closed while waiting for fsync",
                )));
            }
        }
    }
}
