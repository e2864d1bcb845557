//! A partition's log on local disk: the engine's handle, its loading and
//! its failure states. Storing (`append`), durability (`flush`), reads,
//! timestamp lookups and retention live in sibling files as further `impl`
//! blocks; the in-memory state is in `state`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::error;
use uuid::Uuid;

use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::local::partition_metadata::claim_partition_dir;
use crate::local::recovery::{load_partition, Shutdown};
use crate::local::state::Offline;
pub(crate) use crate::local::state::PartitionState;
use crate::TopicIdPartition;

/// A partition's log on local disk: the engine under its `Log`.
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
    pub(crate) appended_bytes: AtomicU64,
    pub(crate) group_commit: GroupCommit<i64>,
    /// Serialises DeleteRecords so log start offset files are written in order.
    pub(crate) log_start_writer: tokio::sync::Mutex<()>,
    /// Set once the directory has been loaded (or failed to load, with why).
    /// Until then `state` holds only the config: partitions found at start-up
    /// are loaded on first use, so start-up does not read every directory.
    pub(crate) loaded: OnceLock<std::result::Result<(), String>>,
    /// How the broker stopped before this start-up (for the first load).
    pub(crate) last_shutdown: Shutdown,
    /// This log itself, for the work it hands to the blocking pool.
    pub(crate) me: Weak<LocalPartitionLog>,
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

    /// Number of fsync rounds run for this partition (group commit metric).
    pub fn fsync_count(&self) -> u64 {
        self.group_commit.fsync_count()
    }

    /// Marks the log unusable after an I/O failure or damage.
    pub(crate) fn mark_failed(&self, reason: String) {
        let mut state = self.state.lock();
        state.failure.get_or_insert(Offline::Failed(reason));
    }

    /// Marks the log deleted: requests still holding it get
    /// UNKNOWN_TOPIC_OR_PARTITION, as for a partition that no longer exists.
    pub(crate) fn mark_deleted(&self) {
        let mut state = self.state.lock();
        state.failure.get_or_insert(Offline::Deleted {
            topic: self.topic.clone(),
            partition: self.partition,
        });
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
}
