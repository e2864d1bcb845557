//! Group commit: concurrent writers share one fdatasync.
//!
//! Records get increasing sequence numbers when appended. The synced
//! sequence (every record up to it is durable) and an "fsync in flight" flag
//! live in a `watch`. A writer waiting for sequence N loops: synced >= N →
//! done; no fsync in flight → it becomes the flusher, fsyncs everything
//! written so far and publishes what that covered; otherwise it waits for
//! the flag or the synced sequence to change and checks again.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::error::{Result, StorageError};

#[derive(Debug, Clone, Copy)]
struct SyncState {
    synced_seq: u64,
    in_flight: bool,
}

pub(crate) struct GroupCommit {
    state: watch::Sender<SyncState>,
    fsyncs: AtomicU64,
}

/// Clears the in-flight flag (publishing what was covered, if anything) even
/// when the flushing writer is cancelled mid-fsync, so others are not stuck.
struct FlushGuard<'a> {
    state: &'a watch::Sender<SyncState>,
    covered: Option<u64>,
}

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        let covered = self.covered;
        self.state.send_modify(|s| {
            s.in_flight = false;
            if let Some(seq) = covered {
                s.synced_seq = s.synced_seq.max(seq);
            }
        });
    }
}

impl GroupCommit {
    pub(crate) fn new() -> Self {
        GroupCommit {
            state: watch::Sender::new(SyncState {
                synced_seq: 0,
                in_flight: false,
            }),
            fsyncs: AtomicU64::new(0),
        }
    }

    pub(crate) fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Records up to `seq` became durable another way (a snapshot).
    pub(crate) fn mark_synced(&self, seq: u64) {
        self.state
            .send_modify(|s| s.synced_seq = s.synced_seq.max(seq));
    }

    /// Returns once record `needed` is durable. `flush` fsyncs everything
    /// written so far and returns the sequence it covers; its error is
    /// returned to the flusher (the store is poisoned by then, so waiters
    /// that retry fail too).
    pub(crate) async fn wait_durable<F, Fut>(&self, needed: u64, flush: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<u64>>,
    {
        let mut receiver = self.state.subscribe();
        loop {
            let (mut done, mut flusher) = (false, false);
            self.state.send_if_modified(|s| {
                if s.synced_seq >= needed {
                    done = true;
                    false
                } else if s.in_flight {
                    false
                } else {
                    s.in_flight = true;
                    flusher = true;
                    true
                }
            });
            if done {
                return Ok(());
            }
            if flusher {
                let mut guard = FlushGuard {
                    state: &self.state,
                    covered: None,
                };
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                guard.covered = Some(flush().await?);
                continue;
            }
            let waited = receiver
                .wait_for(|s| !s.in_flight || s.synced_seq >= needed)
                .await;
            if waited.is_err() {
                return Err(StorageError::Io(std::io::Error::other(
                    "offset store closed while waiting for fsync",
                )));
            }
        }
    }
}
