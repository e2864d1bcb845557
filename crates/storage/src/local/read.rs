//! Fetch reads: whole batches from the batch containing the requested offset.
//!
//! The partition lock is held only to take a snapshot (segment files, opened
//! through the file cache, sizes, the index position to start from); reads
//! happen after releasing it.
//! Data is read with positional reads into one buffer per call, first from
//! the page cache only on the worker thread (`cached_read`), and from the
//! file on the blocking pool when that would wait for the disk.

use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::local::blocking::{has_read_hook, on_read, ReadKind};
use crate::local::cached_read::CachedOnly;
use crate::local::file_cache::OpenFile;
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

    /// `read_batches` from the page cache only, on the calling (worker)
    /// thread: `None` when a byte is not cached, the partition is not loaded
    /// yet, or a test hooks its reads (a hooked read stands for a slow disk).
    pub(crate) fn read_cached(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Option<Result<ReadOutcome>> {
        if !self.is_loaded() || has_read_hook(&self.dir) {
            return None;
        }
        match self.read_batches(offset, max_bytes, min_one, ReadFrom::PageCache) {
            Err(StorageError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => None,
            other => Some(other),
        }
    }

    pub(crate) fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        from: ReadFrom,
    ) -> Result<ReadOutcome> {
        let (offsets, segments, start_position) = match self.read_snapshot(offset, max_bytes)? {
            Snapshot::Empty(offsets) => return Ok(empty(offsets)),
            Snapshot::Segments(offsets, segments, start_position) => {
                (offsets, segments, start_position)
            }
        };
        on_read(&self.dir, ReadKind::Fetch);
        let records =
            match read_from_segments(&segments, start_position, offset, max_bytes, min_one, from) {
                Err(StorageError::CorruptBatch(damage)) => {
                    return Err(self.take_offline(format!("{}/{damage}", self.dir.display())))
                }
                other => other?,
            };
        Ok(ReadOutcome {
            records: Bytes::from(records),
            offsets,
            aborted_transactions: Vec::new(),
        })
    }

    /// What a read of `max_bytes` from `offset` needs, taken under the
    /// partition lock: the offsets, the segments it can reach (opened) and
    /// the index position to scan from in the first.
    pub(crate) fn read_snapshot(&self, offset: i64, max_bytes: usize) -> Result<Snapshot> {
        let state = self.state.lock();
        state.check_usable()?;
        let offsets = state.offsets();
        let (log_start_offset, log_end_offset) = (offsets.log_start_offset, offsets.log_end_offset);
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
            return Ok(Snapshot::Empty(offsets));
        };
        if offset == log_end_offset {
            return Ok(Snapshot::Empty(offsets));
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
        Ok(Snapshot::Segments(offsets, segments, start_position))
    }
}

/// See `read_snapshot`.
pub(crate) enum Snapshot {
    /// Nothing to read at the offset (the log end, or no segment).
    Empty(LogOffsets),
    /// The offsets, the segments, and where to scan from in the first.
    Segments(LogOffsets, Vec<SegmentSnapshot>, u64),
}

/// Where a read's bytes may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadFrom {
    /// Only the page cache; anything else fails with `WouldBlock`.
    PageCache,
    /// The file, waiting for the disk if need be (on the blocking pool).
    File,
}

impl ReadFrom {
    /// `file`, read as this says.
    pub(crate) fn reader(self, file: &OpenFile) -> SegmentReader<'_> {
        match self {
            ReadFrom::PageCache => SegmentReader::PageCache(CachedOnly(file)),
            ReadFrom::File => SegmentReader::File(file),
        }
    }
}

/// A segment file read from where a [`ReadFrom`] says.
pub(crate) enum SegmentReader<'a> {
    PageCache(CachedOnly<'a>),
    File(&'a OpenFile),
}

impl ReadAt for SegmentReader<'_> {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        match self {
            SegmentReader::PageCache(cached) => cached.read_exact_at(buf, position),
            SegmentReader::File(file) => file.read_exact_at(buf, position),
        }
    }
}

fn empty(offsets: LogOffsets) -> ReadOutcome {
    ReadOutcome {
        records: Bytes::new(),
        offsets,
        aborted_transactions: Vec::new(),
    }
}

/// Damage met while reading: the file and byte position, and what is wrong.
pub(crate) fn damaged(
    segment: &SegmentSnapshot,
    position: u64,
    why: impl std::fmt::Display,
) -> StorageError {
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
    from: ReadFrom,
) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut next = NextBatch::Containing(offset);
    for (index, segment) in segments.iter().enumerate() {
        let file = &from.reader(&segment.file);
        let scan_from = if index == 0 { start_position } else { 0 };
        let (position, header) = match find_batch_containing(file, scan_from, segment.size, offset)?
        {
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
                read_into(&mut out, file, segment, position, header.size)?;
                check_served(&out, available, &mut next)
                    .map_err(|(at, why)| damaged(segment, position + at as u64, why))?;
            }
            break;
        }
        let wanted = usize::try_from(available).unwrap_or(usize::MAX).min(budget);
        if out.capacity() == 0 {
            out.reserve_exact(max_bytes.min(total_available(segments, index, position)));
        }
        let appended = read_into(&mut out, file, segment, position, wanted)?;
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
    file: &impl ReadAt,
    segment: &SegmentSnapshot,
    position: u64,
    len: usize,
) -> Result<usize> {
    let start = out.len();
    out.resize(start + len, 0);
    if let Err(err) = file.read_exact_at(&mut out[start..], position) {
        out.truncate(start);
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StorageError::Io(err));
        }
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
