//! Fetch reads: whole batches from the batch containing the requested offset.
//!
//! The partition lock is held only to take a snapshot (segment files, opened
//! through the file cache, sizes, the index position to start from); reads
//! happen after releasing it.
//! Data is read with positional reads into one buffer per call.

use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::local::blocking::{on_read, ReadKind};
use crate::local::partition::LocalPartitionLog;
use crate::local::scan::{check_served, NextBatch};
use crate::local::segment::{find_batch_containing, ReadAt, Scanned, SegmentSnapshot};
use crate::{LogOffsets, ReadOutcome};

impl LocalPartitionLog {
    /// A Fetch read at the log end needs no file: answered here, without a
    /// hand-off to the blocking pool (caught-up consumers poll there).
    pub(crate) fn read_at_log_end(&self, offset: i64) -> Option<Result<ReadOutcome>> {
        if !self.is_loaded() {
            return None;
        }
        // Loaded, but perhaps failed to: then its state is a placeholder
        // that would answer an empty log (no I/O: the outcome is kept).
        if let Err(err) = self.ensure_loaded() {
            return Some(Err(err));
        }
        let state = self.state.lock();
        if let Err(err) = state.check_usable() {
            return Some(Err(err));
        }
        let offsets = state.offsets();
        (offset == offsets.log_end_offset).then(|| Ok(empty(offsets)))
    }

    pub(crate) fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadOutcome> {
        let (offsets, segments, start_position) = {
            let state = self.state.lock();
            state.check_usable()?;
            let offsets = state.offsets();
            let (log_start_offset, log_end_offset) =
                (offsets.log_start_offset, offsets.log_end_offset);
            if offset < log_start_offset || offset > log_end_offset {
                return Err(StorageError::OffsetOutOfRange {
                    offset,
                    log_start: log_start_offset,
                    end: log_end_offset,
                });
            }
            let first = state
                .segments
                .range(..=offset)
                .next_back()
                .or_else(|| state.segments.iter().next());
            let Some((&first_base, first_segment)) = first else {
                return Ok(empty(offsets));
            };
            if offset == log_end_offset {
                return Ok(empty(offsets));
            }
            let start_position = first_segment.position_for_offset(offset);
            // Open only the segments this read can reach: the first, then
            // later ones until they hold max_bytes.
            let mut segments: Vec<SegmentSnapshot> = vec![first_segment.snapshot()?];
            let mut later_bytes = 0u64;
            for (_, segment) in state.segments.range(first_base..).skip(1) {
                if later_bytes >= max_bytes as u64 {
                    break;
                }
                segments.push(segment.snapshot()?);
                later_bytes += segment.size;
            }
            (offsets, segments, start_position)
        };
        on_read(&self.dir, ReadKind::Fetch);
        let records =
            match read_from_segments(&segments, start_position, offset, max_bytes, min_one) {
                Err(StorageError::CorruptBatch(damage)) => {
                    return Err(self.take_offline(format!("{}/{damage}", self.dir.display())))
                }
                other => other?,
            };
        Ok(ReadOutcome {
            records: Bytes::from(records),
            offsets,
        })
    }
}

fn empty(offsets: LogOffsets) -> ReadOutcome {
    ReadOutcome {
        records: Bytes::new(),
        offsets,
    }
}

/// Damage met while reading: the file and byte position, and what is wrong.
fn damaged(segment: &SegmentSnapshot, position: u64, why: impl std::fmt::Display) -> StorageError {
    StorageError::CorruptBatch(format!(
        "{:020}.log at byte {position}: {why}",
        segment.base_offset
    ))
}

/// Collects whole batches, starting at the one containing `offset`, across
/// segments until `max_bytes` is reached. Damage (broken batch framing,
/// offsets that do not continue) ends the read after the intact batches
/// before it; met first, it is a `CorruptBatch` naming file and position.
fn read_from_segments(
    segments: &[SegmentSnapshot],
    start_position: u64,
    offset: i64,
    max_bytes: usize,
    min_one: bool,
) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut next = NextBatch::Containing(offset);
    for (index, segment) in segments.iter().enumerate() {
        let scan_from = if index == 0 { start_position } else { 0 };
        let (position, header) =
            match find_batch_containing(&segment.file, scan_from, segment.size, offset)? {
                Scanned::Batch(position, header) => (position, header),
                Scanned::End => continue,
                Scanned::Damaged { .. } if !out.is_empty() => break,
                Scanned::Damaged { position, why } => return Err(damaged(segment, position, why)),
            };
        let available = segment.size - position;
        let budget = max_bytes.saturating_sub(out.len());
        if out.is_empty() && header.size > max_bytes {
            // Kafka's rule: the first batch of the first partition is returned
            // whole even if it exceeds the limit, so consumers always progress.
            if min_one {
                read_into(&mut out, segment, position, header.size)?;
                check_served(&out, available, &mut next)
                    .map_err(|(at, why)| damaged(segment, position + at as u64, why))?;
            }
            break;
        }
        let wanted = usize::try_from(available).unwrap_or(usize::MAX).min(budget);
        if out.capacity() == 0 {
            out.reserve_exact(max_bytes.min(total_available(segments, index, position)));
        }
        let appended = read_into(&mut out, segment, position, wanted)?;
        let start = out.len() - appended;
        let whole = match check_served(&out[start..], available, &mut next) {
            Ok(whole) => whole,
            Err((at, _)) if start + at > 0 => {
                out.truncate(start + at);
                break;
            }
            Err((at, why)) => return Err(damaged(segment, position + at as u64, why)),
        };
        out.truncate(start + whole);
        let reached_segment_end = whole as u64 == available;
        if !reached_segment_end || out.len() >= max_bytes {
            break;
        }
    }
    Ok(out)
}

/// Bytes from `position` in segment `index` to the end of the last segment.
fn total_available(segments: &[SegmentSnapshot], index: usize, position: u64) -> usize {
    let rest: u64 = segments.iter().skip(index + 1).map(|s| s.size).sum();
    let here = segments.get(index).map(|s| s.size - position).unwrap_or(0);
    usize::try_from(here + rest).unwrap_or(usize::MAX)
}

/// Appends `len` bytes of the segment at `position` to `out`; returns `len`.
fn read_into(
    out: &mut Vec<u8>,
    segment: &SegmentSnapshot,
    position: u64,
    len: usize,
) -> Result<usize> {
    let start = out.len();
    out.resize(start + len, 0);
    if let Err(err) = ReadAt::read_exact_at(&*segment.file, &mut out[start..], position) {
        out.truncate(start);
        return Err(StorageError::Io(std::io::Error::new(
            err.kind(),
            format!(
                "read {len} bytes at {position} of segment {}: {err}",
                segment.base_offset
            ),
        )));
    }
    Ok(len)
}
