//! A partition's log on local disk: the in-memory state, append and the
//! `PartitionLog` trait (reads, timestamp lookups and retention live in
//! sibling files as further `impl` blocks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::batch::{validate_batches, BatchHeaderMut};
use crate::config::{LogConfig, TimestampType};
use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::local::segment::Segment;
use crate::local::{io_context, now_ms, sync_dir};
use crate::{AppendOutcome, Durability, PartitionLog, ReadOutcome, TimestampOffset};

pub(crate) struct PartitionState {
    /// Base offset → segment. Never empty: the last one is the active segment.
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) config: LogConfig,
    /// Files were created or deleted since the directory was last fsynced.
    pub(crate) dir_dirty: bool,
    /// Set after a failed write or fsync (or deletion): the log refuses
    /// further appends, since what is on disk is no longer known (Kafka takes
    /// the log dir offline in this case).
    pub(crate) failure: Option<String>,
}

impl PartitionState {
    pub(crate) fn active(&self) -> Result<&Segment> {
        self.segments
            .values()
            .next_back()
            .ok_or_else(|| StorageError::Io(std::io::Error::other("partition has no segment")))
    }

    pub(crate) fn active_mut(&mut self) -> Result<&mut Segment> {
        self.segments
            .values_mut()
            .next_back()
            .ok_or_else(|| StorageError::Io(std::io::Error::other("partition has no segment")))
    }

    /// The next offset to assign, i.e. the high watermark.
    pub(crate) fn next_offset(&self) -> i64 {
        self.active()
            .map(|s| s.next_offset)
            .unwrap_or(self.log_start_offset)
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        match &self.failure {
            None => Ok(()),
            Some(reason) => Err(StorageError::Io(std::io::Error::other(format!(
                "partition log is offline: {reason}"
            )))),
        }
    }

    /// Closes the active segment and starts a new one at the next offset.
    pub(crate) fn roll(&mut self, dir: &Path) -> Result<()> {
        let next_offset = self.next_offset();
        self.active_mut()?.close()?;
        let segment = Segment::create(dir, next_offset, &self.config)?;
        self.segments.insert(next_offset, segment);
        self.dir_dirty = true;
        Ok(())
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }
}

pub struct LocalPartitionLog {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) dir: PathBuf,
    pub(crate) state: Mutex<PartitionState>,
    pub(crate) high_watermark: watch::Sender<i64>,
    /// Mirrors `state.log_start_offset` for lock-free reads.
    pub(crate) log_start: AtomicI64,
    leader_epoch: AtomicI32,
    group_commit: GroupCommit<i64>,
    /// Serialises DeleteRecords so log start offset files are written in order.
    pub(crate) log_start_writer: tokio::sync::Mutex<()>,
}

impl LocalPartitionLog {
    pub(crate) fn from_state(
        topic: String,
        partition: i32,
        dir: PathBuf,
        state: PartitionState,
    ) -> Self {
        let next_offset = state.next_offset();
        let log_start = state.log_start_offset;
        LocalPartitionLog {
            topic,
            partition,
            dir,
            state: Mutex::new(state),
            high_watermark: watch::Sender::new(next_offset),
            log_start: AtomicI64::new(log_start),
            leader_epoch: AtomicI32::new(0),
            // Recovery fsyncs what it keeps, so everything loaded is durable.
            group_commit: GroupCommit::new(next_offset),
            log_start_writer: tokio::sync::Mutex::new(()),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn partition_id(&self) -> i32 {
        self.partition
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The leader epoch stamped into appended batches (0 until told otherwise).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
    }

    /// Number of fsync rounds run for this partition (group commit metric).
    pub fn fsync_count(&self) -> u64 {
        self.group_commit.fsync_count()
    }

    /// Makes everything appended so far durable.
    pub async fn flush(&self) -> Result<()> {
        let needed = self.high_watermark();
        self.group_commit
            .wait_durable(needed, || self.flush_once())
            .await
    }

    /// Marks the log unusable (after deletion or an I/O failure).
    pub(crate) fn mark_failed(&self, reason: String) {
        let mut state = self.state.lock();
        state.failure.get_or_insert(reason);
    }

    /// One fsync round: fdatasync every segment written since the last round
    /// (and the directory if files changed) and return the offset covered.
    async fn flush_once(&self) -> Result<i64> {
        let (covered, files, sync_directory) = {
            let mut state = self.state.lock();
            state.check_usable()?;
            let covered = state.next_offset();
            let files: Vec<_> = state
                .segments
                .values_mut()
                .filter(|s| s.dirty)
                .map(|s| {
                    s.dirty = false;
                    (std::sync::Arc::clone(&s.file), s.log_path.clone())
                })
                .collect();
            (covered, files, std::mem::take(&mut state.dir_dirty))
        };
        let dir = self.dir.clone();
        let synced = tokio::task::spawn_blocking(move || -> Result<()> {
            for (file, path) in files {
                file.sync_data()
                    .map_err(|e| io_context("fdatasync", &path, e))?;
            }
            if sync_directory {
                sync_dir(&dir)?;
            }
            Ok(())
        })
        .await
        .map_err(|join| {
            StorageError::Io(std::io::Error::other(format!("fsync task failed: {join}")))
        })
        .and_then(|r| r);
        match synced {
            Ok(()) => Ok(covered),
            Err(err) => {
                self.mark_failed(format!("fsync failed: {err}"));
                Err(err)
            }
        }
    }

    /// Validates, stamps and writes the batches under the partition lock.
    fn append_locked(&self, batches: Bytes) -> Result<AppendOutcome> {
        let max_message_bytes = self.state.lock().config.max_message_bytes;
        // All-or-nothing: every batch is checked before anything is written.
        let summaries = validate_batches(&batches, max_message_bytes)?;
        // One copy at most (none if the caller handed us the only reference).
        let mut buf = batches
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));

        let mut state = self.state.lock();
        state.check_usable()?;
        let now = now_ms();
        let base_offset = state.next_offset();
        let log_append_time = state.config.timestamp_type == TimestampType::LogAppendTime;
        let epoch = self.leader_epoch.load(Ordering::Relaxed);

        let mut headers = Vec::with_capacity(summaries.len());
        let mut next_offset = base_offset;
        for summary in &summaries {
            let mut header =
                BatchHeaderMut::new(&mut buf[summary.position..summary.position + summary.size])?;
            header.set_base_offset(next_offset);
            header.set_partition_leader_epoch(epoch);
            if log_append_time {
                header.set_log_append_time(now);
            }
            headers.push(header.view().header_info());
            next_offset += i64::from(summary.record_count);
        }
        let last_offset = next_offset - 1;

        let config = state.config.clone();
        let incoming = buf.len() as u64;
        if state
            .active()?
            .should_roll(incoming, last_offset, &config, now)
        {
            if let Err(err) = state.roll(&self.dir) {
                state.failure = Some(format!("segment roll failed: {err}"));
                return Err(err);
            }
        }
        if let Err(err) = state.active_mut()?.append(&buf, &headers, &config, now) {
            state.failure = Some(format!("segment write failed: {err}"));
            return Err(err);
        }
        self.high_watermark.send_replace(next_offset);
        Ok(AppendOutcome {
            base_offset,
            last_offset,
            log_append_time: if log_append_time { now } else { -1 },
            log_start_offset: state.log_start_offset,
        })
    }
}

#[async_trait]
impl PartitionLog for LocalPartitionLog {
    async fn append(&self, batches: Bytes, durability: Durability) -> Result<AppendOutcome> {
        let outcome = self.append_locked(batches)?;
        if durability == Durability::Synced {
            self.group_commit
                .wait_durable(outcome.last_offset + 1, || self.flush_once())
                .await?;
        }
        Ok(outcome)
    }

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome> {
        self.read_batches(offset, max_bytes, min_one)
    }

    fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.find_offset_for_timestamp(timestamp)
    }

    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        self.find_max_timestamp()
    }

    async fn delete_records_before(&self, offset: i64) -> Result<i64> {
        self.raise_log_start(offset).await
    }

    fn size_bytes(&self) -> u64 {
        self.state.lock().size_bytes()
    }

    fn config(&self) -> LogConfig {
        self.state.lock().config.clone()
    }

    fn set_config(&self, config: LogConfig) {
        self.state.lock().config = config;
    }
}
