//! Removing old data: DeleteRecords, `retention.ms`, `retention.bytes`, and
//! the time-based roll (`segment.ms`) that housekeeping also drives.
//!
//! Only whole closed segments are deleted. After deleting, the log start
//! offset is at least the base offset of the first remaining segment; on
//! reopen it is recomputed as max(persisted value, first segment base), so
//! retention need not persist it (DeleteRecords must, and does so first).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::error::{Result, StorageError};
use crate::local::blocking::{run_blocking, IoClass};
use crate::local::log_start::write_log_start;
use crate::local::partition::{LocalPartitionLog, PartitionState};
use crate::local::segment::Segment;
use crate::local::{io_context, now_ms};

impl LocalPartitionLog {
    /// DeleteRecords: raises the log start offset to `offset` (persisted
    /// before any segment is removed) and deletes the segments wholly below it.
    pub(crate) async fn raise_log_start(&self, offset: i64) -> Result<i64> {
        let _writer = self.log_start_writer.lock().await;
        {
            let state = self.state.lock();
            state.check_usable()?;
            let high_watermark = state.offsets().high_watermark;
            if offset < 0 || offset > high_watermark {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    log_start: state.log_start_offset,
                    end: high_watermark,
                });
            }
            if offset <= state.log_start_offset {
                return Ok(state.log_start_offset);
            }
        }
        let dir = self.dir.clone();
        run_blocking(IoClass::Foreground, "log start write", move || {
            write_log_start(&dir, offset)
        })
        .await?;

        let (new_start, removed) = {
            let mut state = self.state.lock();
            state.log_start_offset = state.log_start_offset.max(offset);
            let removed = remove_segments_below_log_start(&mut state);
            self.log_start
                .store(state.log_start_offset, Ordering::Release);
            (state.log_start_offset, removed)
        };
        // Deleting a large backlog takes a while: with the background
        // permits, so that reads never queue behind it.
        run_blocking(IoClass::Background, "segment deletion", move || {
            delete_files(removed)
        })
        .await?;
        Ok(new_start)
    }

    /// Time-based roll and retention for this partition.
    pub(crate) fn housekeeping(&self) -> Result<()> {
        let now = now_ms();
        let removed = {
            let mut state = self.state.lock();
            if state.failure.is_some() {
                return Ok(());
            }
            let config = state.config.clone();
            let active = state.active()?;
            if !active.is_empty() && active.is_expired_for_roll(&config, now) {
                state.roll(&self.dir)?;
            }
            let mut removed = Vec::new();
            if config.retention_ms >= 0 {
                let expired = |max_timestamp: i64| {
                    max_timestamp >= 0 && now.saturating_sub(max_timestamp) > config.retention_ms
                };
                // Kafka deletes the active segment too once everything expired:
                // roll first so it becomes a closed segment.
                let everything_expired = state
                    .segments
                    .values()
                    .all(|s| s.is_empty() || expired(s.max_timestamp));
                if everything_expired && !state.active()?.is_empty() {
                    state.roll(&self.dir)?;
                }
                removed.extend(remove_oldest_while(&mut state, |s| {
                    expired(s.max_timestamp)
                }));
            }
            if config.retention_bytes >= 0 {
                // Kafka's rule: delete oldest segments while the log stays at
                // or above retention.bytes without them.
                let total = i64::try_from(state.size_bytes()).unwrap_or(i64::MAX);
                let mut excess = total.saturating_sub(config.retention_bytes);
                removed.extend(remove_oldest_while(&mut state, |s| {
                    let size = i64::try_from(s.size).unwrap_or(i64::MAX);
                    if excess - size >= 0 {
                        excess -= size;
                        true
                    } else {
                        false
                    }
                }));
            }
            let first_base = state
                .segments
                .keys()
                .next()
                .copied()
                .unwrap_or(state.log_start_offset);
            state.log_start_offset = state.log_start_offset.max(first_base);
            self.log_start
                .store(state.log_start_offset, Ordering::Release);
            removed
        };
        delete_files(removed)
    }
}

/// Removes closed segments from the oldest while `condition` holds for them.
fn remove_oldest_while(
    state: &mut PartitionState,
    mut condition: impl FnMut(&Segment) -> bool,
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    while state.segments.len() > 1 {
        let Some((&base, oldest)) = state.segments.iter().next() else {
            break;
        };
        if !condition(oldest) {
            break;
        }
        if let Some(segment) = state.segments.remove(&base) {
            segment.file.discard();
            removed.extend(segment.paths());
            state.dir_dirty = true;
        }
    }
    removed
}

/// Drops closed segments whose every offset is below the log start offset.
fn remove_segments_below_log_start(state: &mut PartitionState) -> Vec<PathBuf> {
    let log_start = state.log_start_offset;
    remove_oldest_while(state, |s| s.next_offset <= log_start)
}

/// Deletes segment files. Readers holding the file open keep reading it.
fn delete_files(paths: Vec<PathBuf>) -> Result<()> {
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_context("delete segment file", &path, e)),
        }
    }
    Ok(())
}
