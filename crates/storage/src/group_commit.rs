//! Group commit: concurrent writers that need durability share one fsync.
//!
//! Writes are numbered by a position that only grows (a log offset, a
//! record sequence). The durable position (everything below or at it is on
//! disk, per the caller's convention) and a "flush in flight" flag live in a
//! `watch`, so waiters wake when either changes. A writer needing position N
//! loops:
//! - durable >= N: done;
//! - no flush in flight: it becomes the flusher, fsyncs everything written
//!   so far (which covers every writer whose write came before) and
//!   publishes the position that covered;
//! - otherwise it waits for the running flush to end and checks again.
//!
//! A failed fsync is returned to the flusher; its owner then refuses further
//! writes, so waiters that retry get the failure too instead of a later fsync
//! wrongly reporting success.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::error::{Result, StorageError};

#[derive(Debug, Clone, Copy)]
struct FlushState<P> {
    durable: P,
    in_flight: bool,
}

pub(crate) struct GroupCommit<P> {
    state: watch::Sender<FlushState<P>>,
    fsyncs: AtomicU64,
}

/// Clears the in-flight flag (publishing what was covered, if anything) even
/// when the flushing writer is cancelled mid-fsync, so others are not stuck.
struct FlushGuard<'a, P: Copy + Ord> {
    state: &'a watch::Sender<FlushState<P>>,
    covered: Option<P>,
}

impl<P: Copy + Ord> Drop for FlushGuard<'_, P> {
    fn drop(&mut self) {
        let covered = self.covered;
        self.state.send_modify(|s| {
            s.in_flight = false;
            if let Some(position) = covered {
                s.durable = s.durable.max(position);
            }
        });
    }
}

impl<P: Copy + Ord> GroupCommit<P> {
    /// `durable`: what is already on disk (e.g. recovered at open).
    pub(crate) fn new(durable: P) -> Self {
        GroupCommit {
            state: watch::Sender::new(FlushState {
                durable,
                in_flight: false,
            }),
            fsyncs: AtomicU64::new(0),
        }
    }

    /// How many flushes have run (tests check that writers shared them).
    pub(crate) fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Data up to `position` became durable another way (e.g. a snapshot).
    pub(crate) fn mark_durable(&self, position: P) {
        self.state
            .send_modify(|s| s.durable = s.durable.max(position));
    }

    /// Returns once `needed` is durable. `flush` fsyncs everything written so
    /// far and returns the position it covers.
    pub(crate) async fn wait_durable<F, Fut>(&self, needed: P, flush: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<P>>,
    {
        let mut receiver = self.state.subscribe();
        loop {
            let (mut done, mut flusher) = (false, false);
            self.state.send_if_modified(|s| {
                if s.durable >= needed {
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
                .wait_for(|s| !s.in_flight || s.durable >= needed)
                .await;
            if waited.is_err() {
                // Only possible once the owner (a log, a store) is dropped.
                return Err(StorageError::Io(std::io::Error::other(
                    "closed while waiting for fsync",
                )));
            }
        }
    }
}
