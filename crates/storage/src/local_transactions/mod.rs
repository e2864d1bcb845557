//! The local engine for [`TransactionStore`]: transactional ids' state and
//! the producer-id reservation in an append-only log.
//!
//! # On disk
//!
//! ```text
//! <data_dir>/__fjord_transactions/
//!     transactions.log        the log
//!     transactions.log.tmp    a compacted log being written
//! ```
//!
//! Records are framed as in the offset store (`[u32 length][u32
//! crc32c][payload]`, see `crate::framing`); a payload stores or removes
//! one transactional id's state, or moves the producer-id reservation on.
//! Replaying the records in order rebuilds the state.
//!
//! # Writes
//!
//! One writer at a time (a tokio mutex) checks the record against the
//! state, writes it (page cache) and applies it to memory in one step with
//! no await between, so a caller that goes away cannot leave memory and
//! file apart; it then waits, without the writer, until the record is
//! fdatasynced. Writers share fsyncs (`crate::group_commit`, as the offset
//! store and the logs do): a transaction makes several writes (begin,
//! prepare, complete) and concurrent producers' writes queued behind one
//! another's fsyncs made EndTxn's tail latency. For the same reason two
//! fsyncs may overlap: a record written just after one began gets its own
//! at once instead of waiting that one out first. A failed write or fsync
//! poisons the store: later writes fail, since what is on disk is no longer
//! known (a restart re-reads it).
//!
//! # Recovery and compaction
//!
//! At open a leftover `.tmp` is deleted (a compaction that never renamed),
//! the log is replayed up to the first torn or corrupt frame, cut there and
//! fsynced. A frame whose CRC matches but does not decode fails the open
//! rather than dropping what follows. When the log passes
//! [`LocalTransactionOptions::compaction_min_bytes`] and is more than 4× its
//! live state, it is rewritten as that state: temp file, fsync, rename over
//! the log, fsync the directory.

mod codec;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};

use self::codec::{decode_payload, encode_frame, Record, State};
use crate::error::{Result, StorageError};
use crate::framing::{open_log, write_replacement};
use crate::group_commit::{run_flush, GroupCommit};
use crate::local::{io_context, sync_dir};
use crate::transactions::{StoredTransaction, TransactionStore};
use crate::Durability;

/// Directory under the data dir.
pub const TRANSACTIONS_DIR: &str = "__fjord_transactions";
const LOG_FILE: &str = "transactions.log";
const TEMP_FILE: &str = "transactions.log.tmp";
/// The log is compacted only past this many bytes and 4× its live state.
pub const DEFAULT_COMPACTION_MIN_BYTES: u64 = 4 << 20;
const COMPACTION_RATIO: u64 = 4;
/// fdatasyncs of the log that may run at once (see `crate::group_commit`).
const FLUSHES_IN_FLIGHT: usize = 2;

/// Tunables (tests shrink the compaction threshold).
#[derive(Debug, Clone, Copy)]
pub struct LocalTransactionOptions {
    pub compaction_min_bytes: u64,
}

impl Default for LocalTransactionOptions {
    fn default() -> Self {
        LocalTransactionOptions {
            compaction_min_bytes: DEFAULT_COMPACTION_MIN_BYTES,
        }
    }
}

/// Owned by whoever writes (one at a time).
struct Writer {
    /// Bytes in the log.
    len: u64,
    /// Size at which compaction is next considered.
    next_check: u64,
}

/// What the flusher needs, consistent with each other.
struct Current {
    file: Arc<File>,
    /// Records written since open; the sequence number of the last one.
    written_seq: u64,
    /// Set by a failed write or fsync: the store refuses further writes.
    failure: Option<String>,
}

struct Inner {
    dir: PathBuf,
    options: LocalTransactionOptions,
    state: RwLock<State>,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    current: Mutex<Current>,
    group_commit: GroupCommit<u64>,
}

/// Transaction state and producer-id reservations in a local log (see the
/// module documentation).
pub struct LocalTransactionStore {
    inner: Arc<Inner>,
}

impl LocalTransactionStore {
    /// Opens `<data_dir>/__fjord_transactions`, creating it if needed, and
    /// recovers its state (cutting a torn tail). Blocking.
    pub fn open(data_dir: &Path) -> Result<LocalTransactionStore> {
        Self::open_with(data_dir, LocalTransactionOptions::default())
    }

    pub fn open_with(
        data_dir: &Path,
        options: LocalTransactionOptions,
    ) -> Result<LocalTransactionStore> {
        let dir = data_dir.join(TRANSACTIONS_DIR);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| io_context("create dir", &dir, e))?;
            sync_dir(data_dir)?;
        }
        let temp = dir.join(TEMP_FILE);
        match std::fs::remove_file(&temp) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_context("remove", &temp, e)),
        }
        let path = dir.join(LOG_FILE);
        let created = !path.exists();
        let mut state = State::default();
        let (file, len) = open_log(&path, "transaction store", |payload| {
            state.apply(decode_payload(payload)?);
            Ok(())
        })?;
        if created {
            sync_dir(&dir)?;
        }
        let writer = Writer {
            len,
            next_check: options.compaction_min_bytes,
        };
        Ok(LocalTransactionStore {
            inner: Arc::new(Inner {
                dir,
                options,
                state: RwLock::new(state),
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                current: Mutex::new(Current {
                    file: Arc::new(file),
                    written_seq: 0,
                    failure: None,
                }),
                group_commit: GroupCommit::new(0),
            }),
        })
    }

    /// fdatasync rounds run so far (group commit shares them between writers).
    pub fn fsync_count(&self) -> u64 {
        self.inner.group_commit.fsync_count()
    }

    /// Bytes in the log now.
    pub async fn log_len(&self) -> u64 {
        self.inner.writer.lock().await.len
    }

    /// Writes `record` once `check` (run under the writer, so check and
    /// write are one step) accepts the state; returns what `after` reads
    /// from the state once the record is applied.
    async fn write<T: Send + 'static>(
        &self,
        durability: Durability,
        check: impl FnOnce(&State) -> Result<Record> + Send + 'static,
        after: impl FnOnce(&State) -> T + Send + 'static,
    ) -> Result<T> {
        let inner = &self.inner;
        let mut writer = Arc::clone(&inner.writer).lock_owned().await;
        let (result, needed) = inner.append(&mut writer, check, after)?;
        if writer.len >= writer.next_check {
            // The guard moves into the task: if we are cancelled, nobody
            // appends to the old file while it is being replaced.
            let compacting = Arc::clone(inner);
            tokio::task::spawn_blocking(move || compacting.maybe_compact(&mut writer))
                .await
                .map_err(|join| StorageError::task_failed("transaction store", join))?;
        } else {
            drop(writer);
        }
        if durability == Durability::Written {
            return Ok(result);
        }
        inner
            .group_commit
            .wait_durable_overlapping(
                needed,
                FLUSHES_IN_FLIGHT,
                || inner.current.lock().written_seq,
                || inner.sync_current(),
            )
            .await?;
        Ok(result)
    }
}

fn unusable(why: &str) -> StorageError {
    StorageError::Io(std::io::Error::other(format!(
        "transaction store unusable after an earlier failure: {why}"
    )))
}

impl Inner {
    fn poison(&self, err: &StorageError) {
        self.current
            .lock()
            .failure
            .get_or_insert_with(|| err.to_string());
    }

    /// Checks, writes (page cache) and applies one record; returns what
    /// `after` reads and the record's sequence number, to wait on. Caller
    /// holds the writer.
    fn append<T>(
        &self,
        writer: &mut Writer,
        check: impl FnOnce(&State) -> Result<Record>,
        after: impl FnOnce(&State) -> T,
    ) -> Result<(T, u64)> {
        let file = {
            let current = self.current.lock();
            if let Some(why) = &current.failure {
                return Err(unusable(why));
            }
            Arc::clone(&current.file)
        };
        let record = check(&self.state.read())?;
        let mut frame = Vec::new();
        encode_frame(&record, &mut frame)?;
        if let Err(e) = (&*file).write_all(&frame) {
            // A partial frame may be on disk; recovery cuts it at next open.
            let err = io_context("append", &self.dir.join(LOG_FILE), e);
            self.poison(&err);
            return Err(err);
        }
        writer.len += frame.len() as u64;
        let result = {
            let mut state = self.state.write();
            state.apply(record);
            after(&state)
        };
        let mut current = self.current.lock();
        current.written_seq += 1;
        Ok((result, current.written_seq))
    }

    /// One fdatasync of the current file, which holds every record written
    /// so far. (If a compaction swaps the file meanwhile, the snapshot it
    /// fsynced holds everything up to then too.)
    async fn sync_current(&self) -> Result<()> {
        let file = {
            let current = self.current.lock();
            if let Some(why) = &current.failure {
                return Err(unusable(why));
            }
            Arc::clone(&current.file)
        };
        let path = self.dir.join(LOG_FILE);
        let synced = run_flush(move || {
            file.sync_data()
                .map_err(|e| io_context("fdatasync", &path, e))
        })
        .await;
        if let Err(err) = synced {
            self.poison(&err);
            return Err(err);
        }
        Ok(())
    }

    /// Rewrites the log as its live state when it is mostly dead. A failure
    /// before the rename keeps the old log; after it, the store is poisoned.
    fn maybe_compact(&self, writer: &mut Writer) {
        let min = self.options.compaction_min_bytes;
        let snapshot = match self.state.read().snapshot() {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tracing::warn!(error = %err, "cannot snapshot the transaction store");
                writer.next_check = writer.len.saturating_add(min);
                return;
            }
        };
        let live = snapshot.len() as u64;
        let next_check = |len: u64| {
            min.max(live.saturating_mul(COMPACTION_RATIO))
                .max(len.saturating_add(min / 4))
        };
        if writer.len <= live.saturating_mul(COMPACTION_RATIO) {
            writer.next_check = next_check(writer.len);
            return;
        }
        let temp = self.dir.join(TEMP_FILE);
        let path = self.dir.join(LOG_FILE);
        let file = match write_replacement(&temp, &path, &snapshot) {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!(error = %err, "transaction store compaction failed; keeping the log");
                writer.next_check = next_check(writer.len);
                return;
            }
        };
        let written_seq = {
            let mut current = self.current.lock();
            current.file = Arc::new(file);
            current.written_seq
        };
        writer.len = live;
        writer.next_check = next_check(live);
        if let Err(err) = sync_dir(&self.dir) {
            // The rename may not survive a crash; which log then wins is
            // unknown to us, though both hold everything written so far.
            tracing::error!(error = %err, "cannot fsync the transaction store directory");
            self.poison(&err);
            return;
        }
        // The snapshot is durable and holds every record written so far.
        self.group_commit.mark_durable(written_seq);
    }
}

#[async_trait]
impl TransactionStore for LocalTransactionStore {
    async fn reserve_producer_ids(&self, count: i64) -> Result<i64> {
        if count <= 0 {
            return Err(StorageError::Metadata(format!(
                "cannot reserve {count} producer ids"
            )));
        }
        self.write(
            Durability::Synced,
            move |state| {
                let next = state.next_producer_id.checked_add(count).ok_or_else(|| {
                    StorageError::Metadata("producer ids are exhausted".to_string())
                })?;
                Ok(Record::ProducerIds { next })
            },
            move |state| state.next_producer_id - count,
        )
        .await
    }

    async fn store_transaction(
        &self,
        transactional_id: &str,
        state: Option<Vec<u8>>,
        expected: u64,
        durability: Durability,
    ) -> Result<u64> {
        let id = transactional_id.to_string();
        let after_id = id.clone();
        self.write(
            durability,
            move |current| {
                let actual = current.version(&id);
                if actual != expected {
                    return Err(StorageError::StaleTransactionState {
                        transactional_id: id,
                        expected,
                        actual,
                    });
                }
                Ok(match state {
                    Some(state) => Record::Put { id, state },
                    None => Record::Remove { id },
                })
            },
            move |current| current.version(&after_id),
        )
        .await
    }

    fn transaction_version(&self, transactional_id: &str) -> u64 {
        self.inner.state.read().version(transactional_id)
    }

    fn transactions(&self) -> Vec<StoredTransaction> {
        let state = self.inner.state.read();
        state
            .transactions
            .iter()
            .map(|(id, stored)| StoredTransaction {
                transactional_id: id.clone(),
                state: stored.clone(),
                version: state.version(id),
            })
            .collect()
    }
}
