//! `LocalOffsetStore`: the writer, group commit and compaction.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use super::codec::{encode_frame, Mutation};
use super::face::MutationLog;
use super::files::{self, OFFSETS_DIR};
use super::state::State;
use crate::error::{Result, StorageError};
use crate::group_commit::{run_flush, GroupCommit};
use crate::local::{io_context, sync_dir};

/// The log is compacted only when it exceeds this many bytes …
pub const DEFAULT_COMPACTION_MIN_BYTES: u64 = 64 << 20;
/// … and this many times the size of a snapshot of the live state.
const COMPACTION_RATIO: u64 = 4;

/// Tunables (tests shrink the compaction threshold).
#[derive(Debug, Clone, Copy)]
pub struct LocalOffsetOptions {
    pub compaction_min_bytes: u64,
}

impl Default for LocalOffsetOptions {
    fn default() -> Self {
        LocalOffsetOptions {
            compaction_min_bytes: DEFAULT_COMPACTION_MIN_BYTES,
        }
    }
}

/// Owned by whoever appends or compacts (one at a time).
struct Writer {
    generation: u64,
    /// Bytes in the current file.
    len: u64,
    /// Size at which compaction is next considered.
    next_check: u64,
}

/// What the flusher needs, consistent with each other.
struct Current {
    file: Arc<File>,
    path: PathBuf,
    /// Records appended since open; the sequence number of the last one.
    written_seq: u64,
    /// Set by a failed write or fsync: the store refuses further writes.
    failure: Option<String>,
}

struct Inner {
    dir: PathBuf,
    options: LocalOffsetOptions,
    state: RwLock<State>,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    current: Mutex<Current>,
    group_commit: GroupCommit<u64>,
    /// Tests: fail the next fsync.
    #[cfg(test)]
    fail_next_fsync: std::sync::atomic::AtomicBool,
}

/// Committed offsets and group metadata in an append-only local log (see the
/// module documentation).
pub struct LocalOffsetStore {
    inner: Arc<Inner>,
}

fn next_check(min: u64, live: u64, len: u64) -> u64 {
    min.max(live.saturating_mul(COMPACTION_RATIO))
        .max(len.saturating_add(min / 4))
}

impl LocalOffsetStore {
    /// Opens `<data_dir>/__fjord_offsets`, creating it if needed, and
    /// recovers its state (cutting a torn tail).
    pub fn open(data_dir: &Path) -> Result<LocalOffsetStore> {
        Self::open_with(data_dir, LocalOffsetOptions::default())
    }

    pub fn open_with(data_dir: &Path, options: LocalOffsetOptions) -> Result<LocalOffsetStore> {
        let recovered = files::recover(data_dir)?;
        let inner = Inner {
            dir: data_dir.join(OFFSETS_DIR),
            options,
            state: RwLock::new(recovered.state),
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                generation: recovered.generation,
                len: recovered.len,
                // Checked at the first write if the recovered log is already big.
                next_check: options.compaction_min_bytes,
            })),
            current: Mutex::new(Current {
                file: Arc::new(recovered.file),
                path: recovered.path,
                written_seq: 0,
                failure: None,
            }),
            group_commit: GroupCommit::new(0),
            #[cfg(test)]
            fail_next_fsync: std::sync::atomic::AtomicBool::new(false),
        };
        Ok(LocalOffsetStore {
            inner: Arc::new(inner),
        })
    }

    /// fdatasync rounds run so far (group commit shares them between writers).
    pub fn fsync_count(&self) -> u64 {
        self.inner.group_commit.fsync_count()
    }

    /// Rewrites the log as a snapshot of the live state now, whatever its size.
    pub async fn compact(&self) -> Result<()> {
        let mut writer = Arc::clone(&self.inner.writer).lock_owned().await;
        self.inner.check_usable()?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.compact(&mut writer, true))
            .await
            .map_err(|join| StorageError::task_failed("offset store", join))?
    }

    /// (generation, bytes) of the current log file.
    #[cfg(test)]
    pub(crate) async fn log_file(&self) -> (u64, u64) {
        let writer = self.inner.writer.lock().await;
        (writer.generation, writer.len)
    }

    #[cfg(test)]
    pub(crate) fn fail_next_fsync(&self) {
        self.inner
            .fail_next_fsync
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Logs and applies one mutation, then waits until it is durable;
    /// refused if the state refuses it or the group's metadata is no longer
    /// at the `expected` version (checked under the writer lock, so check
    /// and append are one step). Returns that group's version after it.
    async fn append_durably(
        &self,
        mutation: Mutation,
        expected: Option<(&str, u64)>,
    ) -> Result<u64> {
        let inner = &self.inner;
        let mut writer = Arc::clone(&inner.writer).lock_owned().await;
        inner.check_usable()?;
        if let Some((group, expected)) = expected {
            let actual = inner.state.read().metadata_version(group);
            if actual != expected {
                return Err(StorageError::StaleGroupState {
                    group: group.to_string(),
                    expected,
                    actual,
                });
            }
        }
        inner.state.read().refuses(&mutation)?;
        let changes = inner.state.read().changes(&mutation);
        let needed = if changes {
            let mut frame = Vec::new();
            encode_frame(&mutation, &mut frame)?;
            inner.append(&mut writer, &frame, mutation)?
        } else {
            // Nothing to log, but an earlier record may have made it so.
            inner.current.lock().written_seq
        };
        let version = expected.map_or(0, |(group, _)| inner.state.read().metadata_version(group));
        if writer.len >= writer.next_check {
            // The guard moves into the task: if we are cancelled, nobody
            // appends to the old file while it is being replaced.
            let compacting = Arc::clone(inner);
            tokio::task::spawn_blocking(move || compacting.compact(&mut writer, false))
                .await
                .map_err(|join| StorageError::task_failed("offset store", join))??;
        } else {
            drop(writer);
        }
        inner
            .group_commit
            .wait_durable(needed, || inner.flush_once())
            .await?;
        Ok(version)
    }
}

impl Inner {
    fn check_usable(&self) -> Result<()> {
        match &self.current.lock().failure {
            None => Ok(()),
            Some(why) => Err(StorageError::Io(std::io::Error::other(format!(
                "offset store unusable after an earlier failure: {why}"
            )))),
        }
    }

    fn poison(&self, err: &StorageError) {
        self.current
            .lock()
            .failure
            .get_or_insert_with(|| err.to_string());
    }

    /// Writes the frame (page cache), applies the mutation to memory and
    /// returns the record's sequence number. Caller holds the writer.
    fn append(&self, writer: &mut Writer, frame: &[u8], mutation: Mutation) -> Result<u64> {
        let (file, path) = {
            let current = self.current.lock();
            (Arc::clone(&current.file), current.path.clone())
        };
        if let Err(e) = (&*file).write_all(frame) {
            // A partial frame may be on disk: no further appends (recovery
            // cuts it at the next open).
            let err = io_context("append", &path, e);
            self.poison(&err);
            return Err(err);
        }
        writer.len += frame.len() as u64;
        self.state.write().apply(mutation);
        let mut current = self.current.lock();
        current.written_seq += 1;
        Ok(current.written_seq)
    }

    /// One fdatasync of the current file; returns the sequence it covers.
    /// (If a compaction swaps the file meanwhile, the snapshot it fsynced
    /// holds everything up to that sequence too.)
    async fn flush_once(&self) -> Result<u64> {
        let (file, path, covered) = {
            let current = self.current.lock();
            if let Some(why) = &current.failure {
                return Err(StorageError::Io(std::io::Error::other(format!(
                    "offset store unusable after an earlier failure: {why}"
                ))));
            }
            (
                Arc::clone(&current.file),
                current.path.clone(),
                current.written_seq,
            )
        };
        #[cfg(test)]
        if self
            .fail_next_fsync
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            let err = StorageError::Io(std::io::Error::other("injected fsync failure"));
            self.poison(&err);
            return Err(err);
        }
        let synced = run_flush(move || {
            file.sync_data()
                .map_err(|e| io_context("fdatasync", &path, e))
        })
        .await;
        match synced {
            Ok(()) => Ok(covered),
            Err(err) => {
                self.poison(&err);
                Err(err)
            }
        }
    }

    /// Rewrites the log as a snapshot when it is large and mostly dead (or
    /// when `force`d). Blocking; the caller holds the writer. A failure
    /// before the rename leaves the old generation in use (and is only an
    /// error when forced); after it, the store switches or is poisoned.
    fn compact(&self, writer: &mut Writer, force: bool) -> Result<()> {
        let min = self.options.compaction_min_bytes;
        let snapshot = files::encode_snapshot(&self.state.read())?;
        let live = snapshot.len() as u64;
        if !force && writer.len <= live.saturating_mul(COMPACTION_RATIO) {
            writer.next_check = next_check(min, live, writer.len);
            return Ok(());
        }
        let generation = writer.generation + 1;
        let (file, path) = match files::write_snapshot(&self.dir, generation, &snapshot) {
            Ok(written) => written,
            Err(err) => {
                writer.next_check = next_check(min, live, writer.len);
                if force {
                    return Err(err);
                }
                tracing::warn!(error = %err, "offset store compaction failed; keeping the log");
                return Ok(());
            }
        };
        // The new generation now wins at open: appends must go to it.
        let (old_path, written_seq) = {
            let mut current = self.current.lock();
            current.file = Arc::new(file);
            let old = std::mem::replace(&mut current.path, path);
            (old, current.written_seq)
        };
        writer.generation = generation;
        writer.len = live;
        writer.next_check = next_check(min, live, live);
        if let Err(err) = sync_dir(&self.dir) {
            self.poison(&err);
            return Err(err);
        }
        // The snapshot is durable and holds every record written so far.
        self.group_commit.mark_durable(written_seq);
        let removed = std::fs::remove_file(&old_path)
            .map_err(|e| io_context("remove", &old_path, e))
            .and_then(|()| sync_dir(&self.dir));
        if let Err(err) = removed {
            // Harmless: open keeps only the highest generation.
            tracing::warn!(error = %err, "cannot remove old offset store generation");
        }
        Ok(())
    }
}

#[async_trait]
impl MutationLog for LocalOffsetStore {
    async fn mutate_if(&self, mutation: Mutation, expected: Option<(&str, u64)>) -> Result<u64> {
        self.append_durably(mutation, expected).await
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read()
    }
}
