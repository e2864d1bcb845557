//! The local engine's side of an append, and its [`PartitionEngine`]
//! implementation: batches arrive validated and with their offsets
//! assigned by the `Log`; here they are written to the active segment
//! (rolling it first if needed) and indexed.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::engine::{AssignedBatches, HeaderVisitor, PartitionEngine};
use crate::error::{Result, StorageError};
use crate::local::blocking::{on_read, IoClass, ReadKind};
use crate::local::now_ms;
use crate::local::partition::LocalPartitionLog;
use crate::local::read::ReadFrom;
use crate::local::segment::Segment;
use crate::local::state::{offsets_at, Offline};
use crate::{
    AbortedTxn, Durability, LogConfig, LogOffsets, ReadOutcome, RecordsRead, TimestampOffset,
};

/// What a store found before writing.
enum Stored {
    Done,
    /// The batches need a new segment first; they come back untouched.
    RollFirst(AssignedBatches),
}

impl LocalPartitionLog {
    /// Writes the batches under the partition lock. `roll_here`: a roll the
    /// batches need is done in this call; otherwise they come back for the
    /// caller to store again off the runtime.
    fn store_locked(
        &self,
        batches: AssignedBatches,
        durability: Durability,
        roll_here: bool,
    ) -> Result<Stored> {
        self.ensure_loaded()?;
        let mut state = self.state.lock();
        state.check_usable()?;
        if let Some(reason) = state.active()?.file.deferred_error() {
            // Closing the file failed to fsync earlier writes.
            state.failure = Some(Offline::Failed(reason));
            state.check_usable()?;
        }
        if batches.base_offset != state.next_offset() {
            return Err(StorageError::Io(std::io::Error::other(format!(
                "{}: batches assigned offset {} do not start at the log end offset {}",
                self.dir.display(),
                batches.base_offset,
                state.next_offset()
            ))));
        }
        let now = now_ms();
        let config = state.config.clone();
        let incoming = batches.len() as u64;
        if state
            .active()?
            .should_roll(incoming, batches.last_offset, &config, now)
        {
            if !roll_here {
                // Creating files may wait for the disk: not on the runtime.
                return Ok(Stored::RollFirst(batches));
            }
            if let Err(err) = state.roll(&self.dir) {
                state.failure = Some(Offline::Failed(format!("segment roll failed: {err}")));
                return Err(err);
            }
        }
        let active = state.active_mut()?;
        let written = active.append(
            &mut batches.slices(),
            &batches.headers,
            &config,
            now,
            durability == Durability::Synced,
        );
        if let Err(err) = written {
            state.failure = Some(Offline::Failed(format!("segment write failed: {err}")));
            return Err(err);
        }
        if let Some(aborted) = batches.aborted {
            // In the marker's segment, written out by the flush the marker waits for.
            active.txn_index.append(aborted);
        }
        // Before the log end moves: a fetch woken by it sees these bytes.
        self.appended_bytes.fetch_add(incoming, Ordering::AcqRel);
        self.log_end.send_replace(batches.last_offset + 1);
        Ok(Stored::Done)
    }
}

#[async_trait]
impl PartitionEngine for LocalPartitionLog {
    async fn load(&self) -> Result<()> {
        self.loaded_off_runtime(IoClass::Foreground).await
    }

    async fn store(&self, batches: AssignedBatches, durability: Durability) -> Result<()> {
        self.loaded_off_runtime(IoClass::Foreground).await?;
        match self.store_locked(batches, durability, false)? {
            Stored::Done => Ok(()),
            Stored::RollFirst(batches) => {
                let stored = self
                    .off_runtime(IoClass::Foreground, "segment roll", move |log| {
                        log.store_locked(batches, durability, true)
                    })
                    .await?;
                match stored {
                    Stored::Done => Ok(()),
                    Stored::RollFirst(_) => Err(StorageError::Io(std::io::Error::other(
                        "append asked for a roll it was allowed to do",
                    ))),
                }
            }
        }
    }

    async fn wait_durable(&self, end: i64) -> Result<()> {
        self.group_commit
            .wait_durable(end, || self.flush_once())
            .await
    }

    async fn scan_headers(&self, from: i64, mut visit: HeaderVisitor) -> Result<()> {
        self.off_runtime(IoClass::Foreground, "producer state rebuild", move |log| {
            log.visit_headers(from, &mut visit)
        })
        .await
    }

    async fn read_producer_snapshot(&self) -> Result<Option<(i64, Bytes)>> {
        self.off_runtime(IoClass::Foreground, "producer snapshot read", |log| {
            log.newest_producer_snapshot()
        })
        .await
    }

    async fn write_producer_snapshot(&self, offset: i64, bytes: Bytes) -> Result<()> {
        self.off_runtime(IoClass::Background, "producer snapshot write", move |log| {
            log.keep_producer_snapshot(offset, &bytes)
        })
        .await
    }

    async fn aborted_transactions(&self, from: i64, to: i64) -> Result<Vec<AbortedTxn>> {
        self.loaded_off_runtime(IoClass::Foreground).await?;
        let state = self.state.lock();
        state.check_usable()?;
        Ok(collect_aborted(&state.segments, from, to))
    }

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome> {
        if let Some(at_end) = self.read_at_log_end(offset) {
            return at_end;
        }
        if let Some(cached) = self.read_cached(offset, max_bytes, min_one) {
            return cached;
        }
        self.off_runtime(IoClass::Foreground, "fetch read", move |log| {
            log.read_batches(offset, max_bytes, min_one, ReadFrom::File)
        })
        .await
    }

    async fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        below: i64,
    ) -> Result<RecordsRead> {
        self.read_file_ranges(offset, max_bytes, min_one, below)
            .await
    }

    // The accessors without a Result load too; a partition that cannot be
    // loaded answers 0 there and its error on every call that can carry one.
    fn offsets(&self) -> LogOffsets {
        if self.ensure_loaded().is_err() {
            return LogOffsets::default();
        }
        // Lock-free: the start first, so that a concurrent DeleteRecords
        // cannot leave it above the end read after it.
        let log_start = self.log_start.load(Ordering::Acquire);
        offsets_at(log_start, *self.log_end.borrow())
    }

    fn check_online(&self) -> Result<()> {
        self.ensure_loaded()?;
        self.state.lock().check_usable()
    }

    fn readable_bytes(&self) -> Option<u64> {
        // One replica: what is appended is below the high watermark.
        Some(self.appended_bytes.load(Ordering::Acquire))
    }

    fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        // Not loaded here (that reads files, and this is called on the
        // runtime): the load sets the real value, which wakes the receiver.
        self.log_end.subscribe()
    }

    async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.off_runtime(IoClass::Lookup, "timestamp lookup", move |log| {
            on_read(&log.dir, ReadKind::Timestamp);
            log.find_offset_for_timestamp(timestamp)
        })
        .await
    }

    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        self.off_runtime(IoClass::Lookup, "timestamp lookup", |log| {
            on_read(&log.dir, ReadKind::Timestamp);
            log.find_max_timestamp()
        })
        .await
    }

    async fn delete_records_before(&self, offset: i64) -> Result<i64> {
        self.loaded_off_runtime(IoClass::Foreground).await?;
        self.raise_log_start(offset).await
    }

    fn size_bytes(&self) -> u64 {
        if self.ensure_loaded().is_err() {
            return 0;
        }
        self.state.lock().size_bytes()
    }

    fn config(&self) -> LogConfig {
        self.state.lock().config.clone()
    }

    fn set_config(&self, config: LogConfig) {
        self.state.lock().config = config;
    }
}

/// Kafka's `collectAbortedTransactions`: from the segment holding `from`
/// on, the indexed aborts overlapping [`from`, `to`); the search stops at
/// an entry whose last stable offset reaches `to` (every transaction
/// starting below `to` was decided by then, so its marker came before).
fn collect_aborted(
    segments: &std::collections::BTreeMap<i64, Segment>,
    from: i64,
    to: i64,
) -> Vec<AbortedTxn> {
    let start = segments
        .range(..=from)
        .next_back()
        .map_or(i64::MIN, |(base, _)| *base);
    let mut found = Vec::new();
    for segment in segments.range(start..).map(|(_, segment)| segment) {
        for entry in segment.txn_index.entries() {
            if entry.last_offset >= from && entry.first_offset < to {
                found.push(AbortedTxn {
                    producer_id: entry.producer_id,
                    first_offset: entry.first_offset,
                });
            }
            if entry.last_stable_offset >= to {
                return found;
            }
        }
    }
    found
}
