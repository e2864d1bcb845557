//! Loading one segment for recovery: trusted (from its indexes, which get
//! cheap sanity checks and are rebuilt from the batch headers if they fail
//! them) or scanned batch by batch. The `.log` file is never changed here;
//! what to cut, serve or take offline is decided in `recovery`.

use std::path::Path;

use tracing::warn;

use crate::config::LogConfig;
use crate::error::Result;
use crate::local::file_cache::SegmentFile;
use crate::local::index::{OffsetIndex, TimeIndex};
use crate::local::scan::{walk, Check, Damage};
use crate::local::segment::{open_log_file, read_header_at, Segment};
use crate::local::txn_index::{TxnIndex, TXN_INDEX_SUFFIX};
use crate::local::{
    io_context, segment_file_path, LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX,
};

/// One segment as loaded, with what recovery found in it.
pub(crate) struct Loaded {
    pub(crate) segment: Segment,
    pub(crate) file_size: u64,
    /// Checked batch by batch: it may hold writes that were never fsynced.
    pub(crate) scanned: bool,
    pub(crate) damages: Vec<Damage>,
    pub(crate) any_intact: bool,
}

/// The segment's `.log` file with empty in-memory bounds, and its size.
fn open_segment(
    dir: &Path,
    base: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
) -> Result<(Segment, u64)> {
    let log_path = segment_file_path(dir, base, LOG_SUFFIX);
    let file = open_log_file(&log_path, false)?;
    let file_size = file
        .metadata()
        .map_err(|e| io_context("stat segment", &log_path, e))?
        .len();
    let segment = Segment {
        base_offset: base,
        file: SegmentFile::adopt(log_path.clone(), file),
        log_path,
        size: file_size,
        next_offset: base,
        max_timestamp: -1,
        offset_index,
        time_index,
        // Its entries must fit the segment's offsets, known once it is loaded.
        txn_index: TxnIndex::unloaded(segment_file_path(dir, base, TXN_INDEX_SUFFIX)),
        bytes_since_index_entry: 0,
        first_append_ms: None,
        dirty: false,
    };
    Ok((segment, file_size))
}

fn fresh_indexes(dir: &Path, base: i64, config: &LogConfig) -> Result<(OffsetIndex, TimeIndex)> {
    Ok((
        OffsetIndex::create(
            segment_file_path(dir, base, OFFSET_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?,
        TimeIndex::create(
            segment_file_path(dir, base, TIME_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?,
    ))
}

/// Walks a whole segment into fresh indexes.
fn walk_fresh(dir: &Path, base: i64, config: &LogConfig, check: Check) -> Result<Loaded> {
    let (offset_index, time_index) = fresh_indexes(dir, base, config)?;
    let (mut segment, file_size) = open_segment(dir, base, offset_index, time_index)?;
    let walked = walk(&mut segment, 0, file_size, check, config)?;
    segment.persist_indexes()?;
    Ok(Loaded {
        segment,
        file_size,
        scanned: check == Check::Full,
        damages: walked.damages,
        any_intact: walked.any_intact,
    })
}

/// A segment that may hold unflushed writes: every batch checked in full.
pub(crate) fn scan_segment(dir: &Path, base: i64, config: &LogConfig) -> Result<Loaded> {
    walk_fresh(dir, base, config, Check::Full)
}

/// A segment known to have been fsynced: loaded from its indexes when they
/// pass the sanity checks, else its indexes are rebuilt from the batch
/// headers. The `.log` file is never changed. `end` is the next segment's
/// base; `clean_shutdown` says whether the index files were left whole.
pub(crate) fn load_trusted(
    dir: &Path,
    base: i64,
    end: Option<i64>,
    clean_shutdown: bool,
    config: &LogConfig,
) -> Result<Loaded> {
    let log_path = segment_file_path(dir, base, LOG_SUFFIX);
    let log_size = std::fs::metadata(&log_path)
        .map_err(|e| io_context("stat segment", &log_path, e))?
        .len();
    let offset_index = OffsetIndex::load(
        segment_file_path(dir, base, OFFSET_INDEX_SUFFIX),
        log_size,
        config.segment_index_bytes,
    )?;
    let time_index = TimeIndex::load(
        segment_file_path(dir, base, TIME_INDEX_SUFFIX),
        config.segment_index_bytes,
    )?;
    let (Some(offset_index), Some(time_index)) = (offset_index, time_index) else {
        warn!(segment = %log_path.display(), "indexes missing or inconsistent, rebuilding them");
        return rebuild_trusted(dir, base, end, config);
    };
    let (mut segment, file_size) = open_segment(dir, base, offset_index, time_index)?;
    // The last offset index entry must point at a batch with that offset.
    let probe = segment.position_for_offset(end.map_or(i64::MAX, |e| e.saturating_sub(1)));
    let indexed_base = if probe == 0 {
        base
    } else {
        match read_header_at(&segment.file, probe, file_size)
            .ok()
            .flatten()
        {
            Some(h) if segment.position_for_offset(h.base_offset) == probe => h.base_offset,
            _ => {
                warn!(segment = %segment.log_path.display(), "offset index points at no batch, rebuilding it");
                return rebuild_trusted(dir, base, end, config);
            }
        }
    };
    match end {
        Some(end) => {
            segment.next_offset = end;
            // Closing a segment records its max timestamp at its end offset,
            // unless no batch raised it past the last entry's: either way the
            // last entry holds it once the time index is known written whole
            // (after a clean shutdown; Kafka reads it so too). Else the batch
            // headers tell.
            match segment.time_index.last_entry() {
                Some((timestamp, relative))
                    if segment.relative(end) == relative || clean_shutdown =>
                {
                    segment.max_timestamp = timestamp;
                }
                None if clean_shutdown => {}
                _ => match max_timestamp_from_headers(&segment, file_size) {
                    Some(timestamp) => segment.max_timestamp = timestamp,
                    None => return rebuild_trusted(dir, base, Some(end), config),
                },
            }
            Ok(Loaded {
                segment,
                file_size,
                scanned: false,
                damages: Vec::new(),
                any_intact: file_size > 0,
            })
        }
        None => {
            // The active segment: its end is read from the last index entry
            // on; the time index covers the batches before that entry.
            segment.max_timestamp = segment.time_index.last_entry().map_or(-1, |(t, _)| t);
            segment.next_offset = indexed_base;
            let walked = walk(&mut segment, probe, file_size, Check::Framing, config)?;
            segment.persist_indexes()?;
            Ok(Loaded {
                segment,
                file_size,
                scanned: false,
                damages: walked.damages,
                any_intact: walked.any_intact || probe > 0,
            })
        }
    }
}

/// The largest batch max timestamp in the file; `None` if a header is broken.
fn max_timestamp_from_headers(segment: &Segment, file_size: u64) -> Option<i64> {
    let mut max_timestamp = -1;
    let mut position = 0;
    while let Some(header) = read_header_at(&segment.file, position, file_size).ok()? {
        max_timestamp = max_timestamp.max(header.max_timestamp);
        position += header.size as u64;
    }
    Some(max_timestamp)
}

fn rebuild_trusted(dir: &Path, base: i64, end: Option<i64>, config: &LogConfig) -> Result<Loaded> {
    let mut loaded = walk_fresh(dir, base, config, Check::Framing)?;
    if let Some(end) = end {
        let reached = loaded.segment.next_offset;
        if loaded.damages.is_empty() && reached != end {
            loaded.damages.push(Damage {
                path: loaded.segment.log_path.clone(),
                position: loaded.file_size,
                expected_offset: reached,
                reason: format!(
                    "the segment ends at offset {reached} but the next one starts at {end}"
                ),
                resumed_at: None,
                served: false,
            });
        }
        loaded.segment.close()?;
    }
    Ok(loaded)
}
