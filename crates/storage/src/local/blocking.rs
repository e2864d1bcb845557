//! File I/O off the async worker threads.
//!
//! Reads for Fetch and ListOffsets (and their decompression), segment rolls,
//! retention and DeleteRecords deletions, index rebuilds and loading
//! (recovering) a partition run on Tokio's blocking pool, each holding a
//! permit of one of two semaphores.
//! A cold read waits for the disk on a blocking thread, and the worker
//! threads keep serving every other connection meanwhile. (A Fetch read
//! whose bytes are all in the page cache skips the hand-off: see
//! `cached_read`.)
//!
//! Why the blocking pool behind semaphores rather than per-partition I/O
//! tasks: the work is short synchronous calls on files that any thread can
//! use (positional reads need no per-file cursor), the file cache already
//! bounds open descriptors process-wide, and reads of one partition by
//! several consumers may run in parallel, which one task per partition would
//! serialise. The semaphores bound the threads (Tokio's pool would grow to
//! 512) and keep the two classes apart: deleting a large backlog or loading
//! partitions after a restart holds at most [`BACKGROUND_PERMITS`] threads,
//! so reads and produces are never queued behind it. fsyncs (group commit)
//! keep out of both: they must not wait behind reads either, and run on the
//! asking worker thread itself (`group_commit::run_flush`).
//!
//! Appends still write on the worker thread: a write of an acknowledged
//! batch goes to the page cache (Kafka's request threads write so too), and
//! moving it would add a thread hand-off to every produce.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;
use tokio::sync::Semaphore;

use crate::error::{Result, StorageError};
use crate::local::partition::LocalPartitionLog;

/// Work a client waits for at once: enough to keep a disk's queue busy,
/// few enough that the threads stay cheap.
#[doc(hidden)]
pub const FOREGROUND_PERMITS: usize = 32;
/// Background work at once (deletions and loads by housekeeping, creating
/// and deleting partitions).
pub(crate) const BACKGROUND_PERMITS: usize = 16;
/// Timestamp lookups at once. Each may decompress batches up to the 64 MiB
/// cap (`decompress::MAX_DECOMPRESSED_BATCH`), 96 MiB while its buffer
/// grows; on the worker threads two ran at once, and with the foreground
/// permits 32 would: 3 GiB for a few compression bombs (the hostile test's
/// four concurrent lookups then grew the broker by ~600 MiB, past its bound).
pub(crate) const LOOKUP_PERMITS: usize = 2;

static FOREGROUND: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(FOREGROUND_PERMITS)));
static BACKGROUND: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(BACKGROUND_PERMITS)));
static LOOKUP: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(LOOKUP_PERMITS)));

/// Which semaphore a piece of work waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoClass {
    /// A client waits for it: Fetch reads, timestamp lookups, the roll
    /// before a produce, loading a partition on its first request.
    Foreground,
    /// Retention and DeleteRecords deletions, housekeeping's rolls and
    /// loads, creating and deleting partitions.
    Background,
    /// Timestamp lookups, which decompress (see [`LOOKUP_PERMITS`]).
    Lookup,
}

/// Runs `work` on the blocking pool once a permit of `class` is free.
pub(crate) async fn run_blocking<T, F>(class: IoClass, what: &'static str, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let semaphore = match class {
        IoClass::Foreground => &FOREGROUND,
        IoClass::Background => &BACKGROUND,
        IoClass::Lookup => &LOOKUP,
    };
    let permit = Arc::clone(semaphore)
        .acquire_owned()
        .await
        .map_err(|closed| StorageError::Io(std::io::Error::other(format!("{what}: {closed}"))))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|join| StorageError::task_failed(what, join))?
}

impl LocalPartitionLog {
    /// This log as an `Arc`, to move into work for the blocking pool.
    pub(crate) fn arc(&self) -> Result<Arc<Self>> {
        self.me.upgrade().ok_or_else(|| {
            StorageError::Io(std::io::Error::other(format!(
                "partition {}-{} is being dropped",
                self.topic, self.partition
            )))
        })
    }

    /// `ensure_loaded`, with the load (recovery reads every segment it
    /// scans) on the blocking pool.
    pub(crate) async fn loaded_off_runtime(&self, class: IoClass) -> Result<()> {
        if self.is_loaded() {
            return self.ensure_loaded();
        }
        let log = self.arc()?;
        run_blocking(class, "partition load", move || log.ensure_loaded()).await
    }

    /// Runs `work` on this log in the blocking pool, once it is loaded.
    pub(crate) async fn off_runtime<T, F>(
        &self,
        class: IoClass,
        what: &'static str,
        work: F,
    ) -> Result<T>
    where
        F: FnOnce(&LocalPartitionLog) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let log = self.arc()?;
        run_blocking(class, what, move || {
            log.ensure_loaded()?;
            work(&log)
        })
        .await
    }
}

/// Something a test wants done at a read of a partition's files, on the
/// thread doing the read (sleep to simulate a cold disk, or count reads).
pub type ReadHook = Arc<dyn Fn(ReadKind) + Send + Sync>;

/// Which read a [`ReadHook`] is called for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// A Fetch read of whole batches.
    Fetch,
    /// A ListOffsets lookup by timestamp.
    Timestamp,
}

/// Hooks by directory: a hook applies to the partitions under it. Tests set
/// them on their own temp data dirs, so tests running in parallel in one
/// process do not see each other's.
static READ_HOOKS: LazyLock<RwLock<Vec<(std::path::PathBuf, ReadHook)>>> =
    LazyLock::new(|| RwLock::new(Vec::new()));

/// Installs `hook` for the partitions under `data_dir` until the guard is
/// dropped. For tests: production code never installs one, and a read then
/// costs one uncontended read lock on an empty list.
#[doc(hidden)]
pub fn install_read_hook(data_dir: &Path, hook: ReadHook) -> ReadHookGuard {
    let dir = data_dir.to_path_buf();
    READ_HOOKS.write().push((dir.clone(), hook));
    ReadHookGuard { dir }
}

/// Removes its hook when dropped.
#[doc(hidden)]
pub struct ReadHookGuard {
    dir: std::path::PathBuf,
}

impl Drop for ReadHookGuard {
    fn drop(&mut self) {
        READ_HOOKS.write().retain(|(dir, _)| dir != &self.dir);
    }
}

/// Whether a hook is installed for `partition_dir`'s data dir.
pub(crate) fn has_read_hook(partition_dir: &Path) -> bool {
    let installed = READ_HOOKS.read();
    !installed.is_empty()
        && installed
            .iter()
            .any(|(dir, _)| partition_dir.starts_with(dir))
}

/// Calls the hooks installed for `partition_dir`'s data dir.
pub(crate) fn on_read(partition_dir: &Path, kind: ReadKind) {
    let hooks: Vec<ReadHook> = {
        let installed = READ_HOOKS.read();
        if installed.is_empty() {
            return;
        }
        installed
            .iter()
            .filter(|(dir, _)| partition_dir.starts_with(dir))
            .map(|(_, hook)| Arc::clone(hook))
            .collect()
    };
    for hook in hooks {
        hook(kind);
    }
}
