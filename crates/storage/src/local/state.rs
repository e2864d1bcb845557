//! A local partition's in-memory state: its segments, positions and
//! whether it is usable, guarded by the partition's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::local::file_cache::OpenFile;
use crate::local::io_context;
use crate::local::segment::Segment;
use crate::LogOffsets;

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
    pub(crate) failure: Option<Offline>,
    /// The recovery point as persisted (or less): every offset below it is
    /// fsynced. Only ever set to a segment's base.
    pub(crate) recovery_point: i64,
}

/// Why a log refuses requests.
#[derive(Debug, Clone)]
pub(crate) enum Offline {
    /// Its topic was deleted (or recreated) while a request held the log:
    /// the partition is unknown now, as Kafka answers, not a storage failure.
    Deleted { topic: String, partition: i32 },
    /// A failed write or fsync, damaged data, or the broker shutting down.
    Failed(String),
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
            Some(Offline::Deleted { topic, partition }) => Err(StorageError::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
            }),
            Some(Offline::Failed(reason)) => Err(StorageError::Io(std::io::Error::other(format!(
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
pub(crate) struct Unsynced {
    pub(crate) files: Vec<(Arc<OpenFile>, PathBuf)>,
    pub(crate) sync_directory: bool,
}

/// The recovery point to persist once the segments written so far are
/// fsynced: the active segment's base, if a roll moved it past the last one.
pub(crate) fn recovery_point_due(state: &PartitionState) -> Result<Option<i64>> {
    let active_base = state.active()?.base_offset;
    Ok((active_base > state.recovery_point).then_some(active_base))
}

/// Takes the segments written since their last fsync, writing out their
/// index entries first: the indexes on disk then cover what is durable
/// (recovery after an unclean shutdown checks them against the log anyway).
pub(crate) fn take_unsynced(state: &mut PartitionState) -> Result<Unsynced> {
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
