//! Group commit: concurrent writers that need durability share one fsync.
//!
//! Writes are numbered by a position that only grows (a log offset, a
//! record sequence). The durable position (everything below or at it is on
//! disk, per the caller's convention) and the flushes in flight live in a
//! `watch`, so waiters wake when either changes. A writer needing position N
//! loops:
//! - durable >= N: done;
//! - a flush in flight already covers N: wait for it;
//! - fewer flushes in flight than allowed: it becomes a flusher, fsyncs
//!   everything written so far (which covers every writer whose write came
//!   before) and publishes the position that covered;
//! - otherwise it waits for a running flush to end and checks again.
//!
//! [`wait_durable`](GroupCommit::wait_durable) allows one flush at a time,
//! and learns what a flush covered only when it ends.
//! [`wait_durable_overlapping`](GroupCommit::wait_durable_overlapping)
//! learns it when the flush starts, so a writer whose record came just after
//! a flush began need not wait for that flush before starting its own: on a
//! device busy with other files' fsyncs, waiting out one flush and then
//! running another doubled the latency of small durable writes.
//!
//! A failed fsync is returned to the flusher; its owner then refuses further
//! writes, so waiters that retry get the failure too instead of a later fsync
//! wrongly reporting success.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use crate::error::{Result, StorageError};

#[derive(Debug, Clone)]
struct FlushState<P> {
    durable: P,
    /// Flushes in flight: an id, and the position each covers when known
    /// at its start.
    in_flight: Vec<(u64, Option<P>)>,
    next_id: u64,
}

impl<P: Copy + Ord> FlushState<P> {
    fn covers(&self, needed: P) -> bool {
        self.in_flight
            .iter()
            .any(|(_, covered)| covered.is_some_and(|c| c >= needed))
    }

    fn start(&mut self, covers: Option<P>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push((id, covers));
        id
    }
}

/// Runs a flush's blocking calls (fsyncs, and what must follow them before
/// the flush counts). A client's answer waits for them, so they start at
/// once on this worker thread (`block_in_place`, which hands the worker's
/// other tasks to another thread meanwhile) instead of after a
/// blocking-pool thread gets scheduled: on a busy machine that wait was
/// longer than the fsync itself (EndTxn under bench workload 11: the fsync
/// began 14 ms after it was asked for at p99, and took 6 ms). A
/// current-thread runtime (unit tests) cannot hand its tasks off, so there
/// the work keeps to the blocking pool.
pub(crate) async fn run_flush<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(work);
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| StorageError::task_failed("fsync", join))?
}

pub(crate) struct GroupCommit<P> {
    state: watch::Sender<FlushState<P>>,
    fsyncs: AtomicU64,
}

/// Ends a flush (publishing what it covered, if it succeeded) even when the
/// flushing writer is cancelled mid-fsync, so others are not stuck.
struct FlushGuard<'a, P: Copy + Ord> {
    state: &'a watch::Sender<FlushState<P>>,
    id: u64,
    covered: Option<P>,
}

impl<P: Copy + Ord> Drop for FlushGuard<'_, P> {
    fn drop(&mut self) {
        let (id, covered) = (self.id, self.covered);
        self.state.send_modify(|s| {
            s.in_flight.retain(|(running, _)| *running != id);
            if let Some(position) = covered {
                s.durable = s.durable.max(position);
            }
        });
    }
}

/// What a writer does next.
enum Step<P> {
    Done,
    Wait,
    /// Flush, as flush number `id`, covering this position if known.
    Flush(u64, Option<P>),
}

impl<P: Copy + Ord> GroupCommit<P> {
    /// `durable`: what is already on disk (e.g. recovered at open).
    pub(crate) fn new(durable: P) -> Self {
        GroupCommit {
            state: watch::Sender::new(FlushState {
                durable,
                in_flight: Vec::new(),
                next_id: 0,
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

    /// Decides the next step under the watch's lock: `start` (given only
    /// when a flush may begin) reads the position a flush begun now would
    /// cover.
    fn next_step(
        &self,
        needed: P,
        max_in_flight: usize,
        start: impl FnOnce() -> Option<P>,
    ) -> Step<P> {
        let mut step = Step::Wait;
        self.state.send_if_modified(|s| {
            if s.durable >= needed {
                step = Step::Done;
                false
            } else if s.covers(needed) || s.in_flight.len() >= max_in_flight {
                false
            } else {
                let covers = start();
                step = Step::Flush(s.start(covers), covers);
                true
            }
        });
        step
    }

    async fn wait_for_change(
        &self,
        receiver: &mut watch::Receiver<FlushState<P>>,
        needed: P,
        max_in_flight: usize,
    ) -> Result<()> {
        let waited = receiver
            .wait_for(|s| {
                s.durable >= needed || (!s.covers(needed) && s.in_flight.len() < max_in_flight)
            })
            .await;
        match waited {
            Ok(_) => Ok(()),
            // Only possible once the owner (a log, a store) is dropped.
            Err(_) => Err(StorageError::Io(std::io::Error::other(
                "closed while waiting for fsync",
            ))),
        }
    }

    /// Returns once `needed` is durable, one flush at a time. `flush` fsyncs
    /// everything written so far and returns the position it covers.
    pub(crate) async fn wait_durable<F, Fut>(&self, needed: P, flush: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<P>>,
    {
        let mut receiver = self.state.subscribe();
        loop {
            match self.next_step(needed, 1, || None) {
                Step::Done => return Ok(()),
                Step::Flush(id, _) => {
                    let mut guard = FlushGuard {
                        state: &self.state,
                        id,
                        covered: None,
                    };
                    self.fsyncs.fetch_add(1, Ordering::Relaxed);
                    guard.covered = Some(flush().await?);
                }
                Step::Wait => self.wait_for_change(&mut receiver, needed, 1).await?,
            }
        }
    }

    /// Returns once `needed` is durable, with up to `max_in_flight` flushes
    /// running at once. `written` reads the position written so far (it runs
    /// under the group commit's lock, so it must be quick and must not call
    /// back into it); `sync` then fsyncs at least everything written up to
    /// that moment.
    pub(crate) async fn wait_durable_overlapping<W, S, Fut>(
        &self,
        needed: P,
        max_in_flight: usize,
        written: W,
        sync: S,
    ) -> Result<()>
    where
        W: Fn() -> P,
        S: Fn() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let max_in_flight = max_in_flight.max(1);
        let mut receiver = self.state.subscribe();
        loop {
            match self.next_step(needed, max_in_flight, || Some(written())) {
                Step::Done => return Ok(()),
                Step::Flush(id, covers) => {
                    let mut guard = FlushGuard {
                        state: &self.state,
                        id,
                        covered: None,
                    };
                    self.fsyncs.fetch_add(1, Ordering::Relaxed);
                    sync().await?;
                    guard.covered = covers;
                }
                Step::Wait => {
                    self.wait_for_change(&mut receiver, needed, max_in_flight)
                        .await?
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;
    use tokio::task::JoinHandle;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_flush_runs_on_the_asking_thread_and_other_tasks_go_on() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flushing = Arc::clone(&started);
        // On the only worker: while its flush blocks, the releaser below
        // can run only if the worker's tasks were handed to another thread.
        let flush = tokio::spawn(async move {
            let asking = std::thread::current().id();
            let ran_on = run_flush(move || {
                flushing.store(true, Ordering::SeqCst);
                rx.recv_timeout(Duration::from_secs(10))
                    .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?;
                Ok(std::thread::current().id())
            })
            .await?;
            Ok::<_, StorageError>((asking, ran_on))
        });
        let releaser = tokio::spawn(async move {
            while !started.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tx.send(()).expect("flush waiting");
        });
        let (asking, ran_on) = flush.await.expect("flush task").expect("flush");
        assert_eq!(ran_on, asking, "no hand-off to a blocking-pool thread");
        releaser.await.expect("releaser");
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_a_flush_keeps_to_the_blocking_pool() {
        let asking = std::thread::current().id();
        let ran_on = run_flush(|| Ok(std::thread::current().id()))
            .await
            .expect("flush");
        assert_ne!(ran_on, asking);
    }

    /// A store whose fsyncs the test releases one at a time.
    struct Gate {
        commit: GroupCommit<u64>,
        written: AtomicU64,
        release: Notify,
        started: AtomicU64,
    }

    impl Gate {
        fn new(written: u64) -> Arc<Gate> {
            Arc::new(Gate {
                commit: GroupCommit::new(0),
                written: AtomicU64::new(written),
                release: Notify::new(),
                started: AtomicU64::new(0),
            })
        }

        fn started(&self) -> u64 {
            self.started.load(Ordering::SeqCst)
        }

        async fn sync(&self) -> Result<()> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.release.notified().await;
            Ok(())
        }

        /// A writer waiting for `needed`, with up to `max_in_flight` flushes.
        fn writer(self: &Arc<Self>, needed: u64, max_in_flight: usize) -> JoinHandle<Result<()>> {
            let gate = Arc::clone(self);
            tokio::spawn(async move {
                gate.commit
                    .wait_durable_overlapping(
                        needed,
                        max_in_flight,
                        || gate.written.load(Ordering::SeqCst),
                        || gate.sync(),
                    )
                    .await
            })
        }
    }

    async fn until(mut check: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition never held");
    }

    #[tokio::test]
    async fn a_write_after_a_flush_began_starts_its_own_flush_at_once() {
        let gate = Gate::new(1);
        let first = gate.writer(1, 2);
        until(|| gate.started() == 1).await;
        // Written after the first flush read its position: not covered.
        gate.written.store(2, Ordering::SeqCst);
        let second = gate.writer(2, 2);
        until(|| gate.started() == 2).await;
        // A third arrives with both slots busy and neither covering it.
        gate.written.store(3, Ordering::SeqCst);
        let third = gate.writer(3, 2);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.started(), 2);
        // The first flush ends (Notify wakes in order): its slot goes to
        // the third writer while the second flush still runs.
        gate.release.notify_one();
        until(|| first.is_finished()).await;
        until(|| gate.started() == 3).await;
        assert!(!second.is_finished());
        gate.release.notify_one();
        gate.release.notify_one();
        for writer in [first, second, third] {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(gate.commit.fsync_count(), 3);
    }

    #[tokio::test]
    async fn writers_covered_by_a_running_flush_share_it() {
        let gate = Gate::new(5);
        let writers: Vec<_> = (1..=5).map(|needed| gate.writer(needed, 4)).collect();
        until(|| gate.started() == 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            gate.started(),
            1,
            "all five were covered by the first flush"
        );
        gate.release.notify_one();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(gate.commit.fsync_count(), 1);
    }

    #[tokio::test]
    async fn a_failed_flush_frees_its_slot_and_publishes_nothing() {
        let commit = GroupCommit::new(0u64);
        let failed = commit
            .wait_durable_overlapping(
                1,
                1,
                || 1,
                || async { Err(StorageError::Io(std::io::Error::other("injected"))) },
            )
            .await;
        assert!(failed.is_err());
        // Not marked durable by the failure, and the slot is free again.
        commit
            .wait_durable_overlapping(1, 1, || 1, || async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(commit.fsync_count(), 2);
    }
}
