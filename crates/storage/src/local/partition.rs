//! A partition's log on local disk: the in-memory state, append and the
//! `PartitionLog` trait (reads, timestamp lookups and retention live in
//! sibling files as further `impl` blocks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::error;
use uuid::Uuid;

use crate::batch::{validate_batches, BatchHeaderMut};
use crate::config::{LogConfig, TimestampType};
use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::local::blocking::{on_read, IoClass, ReadKind};
use crate::local::file_cache::OpenFile;
use crate::local::log_start::write_recovery_point;
use crate::local::partition_metadata::claim_partition_dir;
use crate::local::recovery::{load_partition, Shutdown};
use crate::local::segment::Segment;
use crate::local::{io_context, now_ms, sync_dir};
use crate::{
    AppendOutcome, Durability, LogOffsets, PartitionLog, ReadOutcome, TimestampOffset,
    TopicIdPartition,
};

pub(crate) struct PartitionState {
    /// Base offset → segment. Never empty: the last one is the active segment.
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) config: LogConfig,
    /// Files were created or deleted since the directory was last fsynced.
    pub(crate) dir_dirty: bool,
    /// Set after a failed write or fsync, on damaged data (see `recovery`),
    /// at deletion and at clean shutdown: the log is offline and refuses
    /// every request, since what is on disk is no longer known or may not be
    /// served (Kafka takes the log dir offline in this case).
    pub(crate) failure: Option<String>,
    /// The recovery point as persisted (or less): every offset below it is
    /// fsynced. Only ever set to a segment's base.
    pub(crate) recovery_point: i64,
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

    /// The next offset to assign: the log end offset.
    pub(crate) fn next_offset(&self) -> i64 {
        self.active()
            .map(|s| s.next_offset)
            .unwrap_or(self.log_start_offset)
    }

    pub(crate) fn offsets(&self) -> LogOffsets {
        offsets_at(self.log_start_offset, self.next_offset())
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

/// The positions of a local log from its start and end.
pub(crate) fn offsets_at(log_start_offset: i64, log_end_offset: i64) -> LogOffsets {
    // One replica: everything written is committed.
    let high_watermark = log_end_offset;
    // No transactions yet: nothing committed is undecided.
    let last_stable_offset = high_watermark;
    LogOffsets {
        log_start_offset,
        log_end_offset,
        high_watermark,
        last_stable_offset,
    }
}

/// Segment files written since their last fsync, and whether the directory
/// changed.
struct Unsynced {
    files: Vec<(std::sync::Arc<OpenFile>, PathBuf)>,
    sync_directory: bool,
}

/// The recovery point to persist once the segments written so far are
/// fsynced: the active segment's base, if a roll moved it past the last one.
fn recovery_point_due(state: &PartitionState) -> Result<Option<i64>> {
    let active_base = state.active()?.base_offset;
    Ok((active_base > state.recovery_point).then_some(active_base))
}

/// Takes the segments written since their last fsync, writing out their
/// index entries first: the indexes on disk then cover what is durable
/// (recovery after an unclean shutdown checks them against the log anyway).
fn take_unsynced(state: &mut PartitionState) -> Result<Unsynced> {
    let mut files = Vec::new();
    for segment in state.segments.values_mut().filter(|s| s.dirty) {
        segment.persist_indexes()?;
        let file = segment
            .file
            .open()
            .map_err(|e| io_context("open segment", &segment.log_path, e))?;
        files.push((file, segment.log_path.clone()));
        segment.dirty = false;
    }
    Ok(Unsynced {
        files,
        sync_directory: std::mem::take(&mut state.dir_dirty),
    })
}

pub struct LocalPartitionLog {
    /// The key: the directory is served only for this topic id.
    pub(crate) topic_id: Uuid,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) dir: PathBuf,
    pub(crate) state: Mutex<PartitionState>,
    /// The log end offset; fetches parked for new data wait on it (it is
    /// also the high watermark, see `offsets_at`).
    pub(crate) log_end: watch::Sender<i64>,
    /// Mirrors `state.log_start_offset` for lock-free reads.
    pub(crate) log_start: AtomicI64,
    /// Bytes appended since the log was opened (`readable_bytes`).
    appended_bytes: AtomicU64,
    leader_epoch: AtomicI32,
    group_commit: GroupCommit<i64>,
    /// Serialises DeleteRecords so log start offset files are written in order.
    pub(crate) log_start_writer: tokio::sync::Mutex<()>,
    /// Set once the directory has been loaded (or failed to load, with why).
    /// Until then `state` holds only the config: partitions found at start-up
    /// are loaded on first use, so start-up does not read every directory.
    loaded: OnceLock<std::result::Result<(), String>>,
    /// How the broker stopped before this start-up (for the first load).
    last_shutdown: Shutdown,
    /// This log itself, for the work it hands to the blocking pool.
    pub(crate) me: Weak<LocalPartitionLog>,
}

/// What an append found before writing.
enum Appended {
    Done(AppendOutcome),
    /// The batches need a new segment first; they come back untouched.
    RollFirst(Bytes),
}

impl LocalPartitionLog {
    pub(crate) fn from_state(
        id: &TopicIdPartition,
        dir: PathBuf,
        state: PartitionState,
    ) -> Arc<Self> {
        Self::with_state(id, dir, state, true, Shutdown::Unclean)
    }

    fn with_state(
        id: &TopicIdPartition,
        dir: PathBuf,
        state: PartitionState,
        loaded: bool,
        last_shutdown: Shutdown,
    ) -> Arc<Self> {
        let next_offset = state.next_offset();
        let log_start = state.log_start_offset;
        Arc::new_cyclic(|me| LocalPartitionLog {
            topic_id: id.topic_id,
            topic: id.topic.clone(),
            partition: id.partition,
            dir,
            state: Mutex::new(state),
            log_end: watch::Sender::new(next_offset),
            log_start: AtomicI64::new(log_start),
            appended_bytes: AtomicU64::new(0),
            leader_epoch: AtomicI32::new(0),
            // Recovery fsyncs what it keeps, so everything loaded is durable.
            group_commit: GroupCommit::new(next_offset),
            log_start_writer: tokio::sync::Mutex::new(()),
            loaded: if loaded {
                OnceLock::from(Ok(()))
            } else {
                OnceLock::new()
            },
            last_shutdown,
            me: me.clone(),
        })
    }

    /// A partition directory found at start-up, loaded on first use (or by
    /// housekeeping's first pass, right after start-up). Until it is loaded
    /// it has not been recovered: after an unclean shutdown, nothing may
    /// declare it clean (a clean-shutdown marker) before it was loaded.
    /// `shutdown`: how the broker last stopped, which decides how much
    /// recovery checks when it is loaded.
    pub(crate) fn unloaded(id: &TopicIdPartition, dir: PathBuf, shutdown: Shutdown) -> Arc<Self> {
        let placeholder = PartitionState {
            segments: BTreeMap::new(),
            log_start_offset: 0,
            config: LogConfig::default(),
            dir_dirty: false,
            failure: None,
            recovery_point: 0,
        };
        Self::with_state(id, dir, placeholder, false, shutdown)
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// Loads the directory (running recovery) unless that was done already;
    /// a failure leaves the partition offline until restart, with the reason.
    pub(crate) fn ensure_loaded(&self) -> Result<()> {
        let outcome = self.loaded.get_or_init(|| {
            self.load().map_err(|err| {
                error!(topic = %self.topic, partition = self.partition, error = %err, "partition cannot be loaded; it stays offline");
                err.to_string()
            })
        });
        outcome.clone().map_err(|reason| {
            StorageError::Io(std::io::Error::other(format!(
                "partition {}-{} is offline: {reason}",
                self.topic, self.partition
            )))
        })
    }

    fn load(&self) -> Result<()> {
        let config = self.state.lock().config.clone();
        let data_dir = self.dir.parent().unwrap_or(Path::new("."));
        claim_partition_dir(data_dir, &self.dir, self.topic_id)?;
        let loaded = load_partition(&self.dir, &config, self.last_shutdown)?;
        let next_offset = loaded.next_offset();
        let log_start = loaded.log_start_offset;
        {
            let mut state = self.state.lock();
            // Keep a config set while loading.
            let config = state.config.clone();
            *state = loaded;
            state.config = config;
        }
        self.log_start.store(log_start, Ordering::Release);
        self.group_commit.mark_durable(next_offset);
        self.log_end.send_replace(next_offset);
        Ok(())
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn topic_id(&self) -> Uuid {
        self.topic_id
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

    /// Makes everything appended so far durable, and writes out index
    /// entries (clean shutdown).
    pub async fn flush(&self) -> Result<()> {
        if !matches!(self.loaded.get(), Some(Ok(()))) {
            // Never loaded: nothing was written.
            return Ok(());
        }
        let needed = self.log_end_offset();
        self.group_commit
            .wait_durable(needed, || self.flush_once())
            .await?;
        self.off_runtime(IoClass::Background, "index write", |log| {
            let mut state = log.state.lock();
            if state.failure.is_some() {
                return Ok(());
            }
            state.active_mut()?.persist_indexes()
        })
        .await
    }

    /// Marks the log unusable (after deletion or an I/O failure).
    pub(crate) fn mark_failed(&self, reason: String) {
        let mut state = self.state.lock();
        state.failure.get_or_insert(reason);
    }

    /// Takes the log offline because its data is damaged where it cannot be
    /// served (see `recovery`); returns the error to answer with.
    pub(crate) fn take_offline(&self, damage: String) -> StorageError {
        tracing::error!(
            topic = %self.topic,
            partition = self.partition,
            %damage,
            "damaged log data met while reading: partition offline, nothing cut"
        );
        self.mark_failed(format!("damaged log data: {damage}"));
        let state = self.state.lock();
        match state.check_usable() {
            Err(err) => err,
            Ok(()) => StorageError::Io(std::io::Error::other(damage)),
        }
    }

    /// One fsync round: fdatasync every segment written since the last round
    /// (and the directory if files changed) and return the offset covered.
    /// After a roll this fsyncs the closed segments, so the recovery point
    /// moves up to the active segment's base (one small file write per roll).
    async fn flush_once(&self) -> Result<i64> {
        let collected = {
            let mut state = self.state.lock();
            state.check_usable()?;
            let covered = state.next_offset();
            recovery_point_due(&state).and_then(|recovery_point| {
                take_unsynced(&mut state).map(|pending| (covered, pending, recovery_point))
            })
        };
        let (covered, pending, recovery_point) = match collected {
            Ok(collected) => collected,
            Err(err) => {
                self.mark_failed(format!("flush failed: {err}"));
                return Err(err);
            }
        };
        match self.sync(pending, recovery_point).await {
            Ok(()) => Ok(covered),
            Err(err) => {
                self.mark_failed(format!("fsync failed: {err}"));
                Err(err)
            }
        }
    }

    /// fsyncs the closed segments once a roll has left them behind the
    /// recovery point, as Kafka flushes a segment when it rolls: without
    /// acks=all writers the recovery point would otherwise stay put and a
    /// crash would scan every segment written since.
    pub(crate) async fn flush_after_roll(&self) -> Result<()> {
        if !self.is_loaded() {
            return Ok(());
        }
        let rolled = {
            let state = self.state.lock();
            state.failure.is_none() && state.active()?.base_offset > state.recovery_point
        };
        if rolled {
            self.flush().await?;
        }
        Ok(())
    }

    /// Clean shutdown of this log: it takes no more requests and everything
    /// is fsynced, index entries included. `false`
    /// if the log was offline, or not recovered since an unclean shutdown:
    /// then the shutdown is not clean for it.
    pub(crate) async fn close(&self) -> Result<bool> {
        match self.loaded.get() {
            // Never loaded since start-up: its files are as the last
            // shutdown left them, which vouches for them only if it was clean.
            None => return Ok(self.last_shutdown == Shutdown::Clean),
            Some(Err(_)) => return Ok(false),
            Some(Ok(())) => {}
        }
        let pending = {
            let mut state = self.state.lock();
            if state.failure.is_some() {
                return Ok(false);
            }
            state.failure = Some("closed at shutdown".to_string());
            for segment in state.segments.values_mut() {
                segment.persist_indexes()?;
            }
            take_unsynced(&mut state)?
        };
        // The recovery point is left to the flushes after rolls: a file write
        // per partition here would cost descriptors and fsyncs when shutting
        // down many partitions at once, and buys little (the active segment
        // is scanned after a crash anyway).
        self.sync(pending, None).await?;
        Ok(true)
    }

    /// fsyncs `pending`, then persists `recovery_point` (if given).
    async fn sync(&self, pending: Unsynced, recovery_point: Option<i64>) -> Result<()> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            for (file, path) in pending.files {
                file.sync_data()
                    .map_err(|e| io_context("fdatasync", &path, e))?;
            }
            if pending.sync_directory {
                sync_dir(&dir)?;
            }
            if let Some(offset) = recovery_point {
                write_recovery_point(&dir, offset)?;
            }
            Ok(())
        })
        .await
        .map_err(|join| {
            StorageError::Io(std::io::Error::other(format!("fsync task failed: {join}")))
        })??;
        if let Some(offset) = recovery_point {
            let mut state = self.state.lock();
            state.recovery_point = state.recovery_point.max(offset);
        }
        Ok(())
    }

    /// Validates, stamps and writes the batches under the partition lock.
    /// `roll_here`: a roll the batches need is done in this call; otherwise
    /// they come back for the caller to append again off the runtime.
    fn append_locked(
        &self,
        batches: Bytes,
        durability: Durability,
        roll_here: bool,
    ) -> Result<Appended> {
        self.ensure_loaded()?;
        let max_message_bytes = self.state.lock().config.max_message_bytes;
        // All-or-nothing: every batch is checked before anything is written.
        let summaries = validate_batches(&batches, max_message_bytes)?;
        // One copy at most (none if the caller handed us the only reference).
        let mut buf = batches
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));

        let mut state = self.state.lock();
        state.check_usable()?;
        if let Some(reason) = state.active()?.file.deferred_error() {
            // Closing the file failed to fsync earlier writes.
            state.failure = Some(reason);
            state.check_usable()?;
        }
        let now = now_ms();
        let base_offset = state.next_offset();
        let log_append_time = state.config.timestamp_type == TimestampType::LogAppendTime;
        let epoch = self.leader_epoch.load(Ordering::Relaxed);

        // Only a damaged or hand-made data dir starts a log this close to
        // i64::MAX (found by fuzzing); refuse rather than wrap around.
        let records: i64 = summaries.iter().map(|s| i64::from(s.record_count)).sum();
        let last_offset = base_offset.checked_add(records).ok_or_else(|| {
            StorageError::Io(std::io::Error::other(format!(
                "{}: offsets past {} cannot be assigned",
                self.dir.display(),
                i64::MAX
            )))
        })? - 1;
        let config = state.config.clone();
        let incoming = buf.len() as u64;
        if state
            .active()?
            .should_roll(incoming, last_offset, &config, now)
        {
            if !roll_here {
                // Creating files may wait for the disk: not on the runtime.
                return Ok(Appended::RollFirst(buf.freeze()));
            }
            if let Err(err) = state.roll(&self.dir) {
                state.failure = Some(format!("segment roll failed: {err}"));
                return Err(err);
            }
        }

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
            // Cannot overflow: checked against last_offset above.
            next_offset += i64::from(summary.record_count);
        }

        if let Err(err) = state.active_mut()?.append(
            &buf,
            &headers,
            &config,
            now,
            durability == Durability::Synced,
        ) {
            state.failure = Some(format!("segment write failed: {err}"));
            return Err(err);
        }
        // Before the log end moves: a fetch woken by it sees these bytes.
        self.appended_bytes
            .fetch_add(buf.len() as u64, Ordering::AcqRel);
        self.log_end.send_replace(next_offset);
        Ok(Appended::Done(AppendOutcome {
            base_offset,
            last_offset,
            log_append_time: if log_append_time { now } else { -1 },
            log_start_offset: state.log_start_offset,
        }))
    }
}

#[async_trait]
impl PartitionLog for LocalPartitionLog {
    async fn append(&self, batches: Bytes, durability: Durability) -> Result<AppendOutcome> {
        self.loaded_off_runtime(IoClass::Foreground).await?;
        let outcome = match self.append_locked(batches, durability, false)? {
            Appended::Done(outcome) => outcome,
            Appended::RollFirst(batches) => {
                let appended = self
                    .off_runtime(IoClass::Foreground, "segment roll", move |log| {
                        log.append_locked(batches, durability, true)
                    })
                    .await?;
                match appended {
                    Appended::Done(outcome) => outcome,
                    Appended::RollFirst(_) => {
                        return Err(StorageError::Io(std::io::Error::other(
                            "append asked for a roll it was allowed to do",
                        )))
                    }
                }
            }
        };
        if durability == Durability::Synced {
            self.group_commit
                .wait_durable(outcome.last_offset + 1, || self.flush_once())
                .await?;
        }
        Ok(outcome)
    }

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome> {
        if let Some(at_end) = self.read_at_log_end(offset) {
            return at_end;
        }
        self.off_runtime(IoClass::Foreground, "fetch read", move |log| {
            log.read_batches(offset, max_bytes, min_one)
        })
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
