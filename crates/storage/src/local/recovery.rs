//! Loading a partition directory at startup.
//!
//! Closed segments are trusted if their indexes look consistent (sizes,
//! ordering, last entry pointing at a real batch). The last segment, and any
//! segment whose indexes are missing or wrong, is checked batch by batch
//! (length, magic, CRC32C, offsets increasing) and cut at the first torn or
//! corrupt batch; its indexes are rebuilt from what remains.

use std::collections::BTreeMap;
use std::path::Path;

use tracing::warn;

use crate::batch::BatchView;
use crate::config::LogConfig;
use crate::error::Result;
use crate::local::file_cache::SegmentFile;
use crate::local::index::{OffsetIndex, TimeIndex};
use crate::local::log_start::read_log_start;
use crate::local::partition::PartitionState;
use crate::local::segment::{open_log_file, read_header_at, Segment};
use crate::local::{
    io_context, segment_file_path, sync_dir, LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX,
};

/// Loads (or creates) the partition in `dir`.
pub(crate) fn load_partition(dir: &Path, config: &LogConfig) -> Result<PartitionState> {
    std::fs::create_dir_all(dir).map_err(|e| io_context("create partition dir", dir, e))?;
    let bases = segment_base_offsets(dir)?;
    let persisted_log_start = read_log_start(dir)?.unwrap_or(0);

    let mut segments = BTreeMap::new();
    for (i, &base) in bases.iter().enumerate() {
        let segment = match bases.get(i + 1) {
            Some(&next_base) => load_closed_segment(dir, base, next_base, config)?,
            None => recover_segment(dir, base, config)?,
        };
        segments.insert(base, segment);
    }
    let first_base = bases.first().copied().unwrap_or(persisted_log_start);
    let mut state = PartitionState {
        segments,
        log_start_offset: persisted_log_start.max(first_base),
        config: config.clone(),
        dir_dirty: false,
        failure: None,
    };
    // A torn tail can leave the log ending below its start offset (or there
    // may be no segment at all): start afresh at the log start offset.
    if state.segments.is_empty() || state.next_offset() < state.log_start_offset {
        for segment in std::mem::take(&mut state.segments).into_values() {
            for path in segment.paths() {
                std::fs::remove_file(&path)
                    .map_err(|e| io_context("delete segment file", &path, e))?;
            }
        }
        let segment = Segment::create(dir, state.log_start_offset, config)?;
        state.segments.insert(state.log_start_offset, segment);
    }
    // Make what recovery kept (and any truncation) durable before serving it.
    let active = state.active()?;
    active
        .file
        .sync_data()
        .map_err(|e| io_context("fdatasync", &active.log_path, e))?;
    state.active_mut()?.dirty = false;
    sync_dir(dir)?;
    Ok(state)
}

/// Base offsets of the `.log` files in `dir`, sorted.
fn segment_base_offsets(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_context("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_context("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".log") else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(base) = stem.parse::<i64>() {
                bases.push(base);
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Loads a closed segment from its indexes, or recovers it if they are unusable.
fn load_closed_segment(
    dir: &Path,
    base: i64,
    next_base: i64,
    config: &LogConfig,
) -> Result<Segment> {
    let log_path = segment_file_path(dir, base, LOG_SUFFIX);
    let file = open_log_file(&log_path, false)?;
    let size = file
        .metadata()
        .map_err(|e| io_context("stat segment", &log_path, e))?
        .len();
    let offset_index = OffsetIndex::load(
        segment_file_path(dir, base, OFFSET_INDEX_SUFFIX),
        size,
        config.segment_index_bytes,
    )?;
    let time_index = TimeIndex::load(
        segment_file_path(dir, base, TIME_INDEX_SUFFIX),
        config.segment_index_bytes,
    )?;
    let (Some(offset_index), Some(time_index)) = (offset_index, time_index) else {
        warn!(segment = %log_path.display(), "indexes missing or inconsistent, rebuilding");
        return recover_segment(dir, base, config);
    };
    let mut segment = Segment {
        base_offset: base,
        log_path,
        file: SegmentFile::adopt(segment_file_path(dir, base, LOG_SUFFIX), file),
        size,
        next_offset: next_base,
        max_timestamp: -1,
        offset_index,
        time_index,
        bytes_since_index_entry: 0,
        first_append_ms: None,
        dirty: false,
    };
    // The last offset index entry must point at a batch with that offset.
    let probe = segment.position_for_offset(next_base.saturating_sub(1));
    let pointed_at = read_header_at(&segment.file, probe, size).ok().flatten();
    if probe > 0 && pointed_at.is_none_or(|h| segment.position_for_offset(h.base_offset) != probe) {
        warn!(segment = %segment.log_path.display(), "offset index points at no batch, rebuilding");
        return recover_segment(dir, base, config);
    }
    // Closing a segment records its max timestamp at its end offset.
    match segment.time_index.last_entry() {
        Some((timestamp, relative)) if segment.relative(next_base) == relative => {
            segment.max_timestamp = timestamp;
        }
        _ => {
            let mut position = 0;
            loop {
                match read_header_at(&segment.file, position, size) {
                    Ok(Some(header)) => {
                        segment.max_timestamp = segment.max_timestamp.max(header.max_timestamp);
                        position += header.size as u64;
                    }
                    Ok(None) => break,
                    Err(_) => return recover_segment(dir, base, config),
                }
            }
        }
    }
    Ok(segment)
}

/// Checks a segment batch by batch, cuts it at the first bad batch and
/// rebuilds its indexes.
pub(crate) fn recover_segment(dir: &Path, base: i64, config: &LogConfig) -> Result<Segment> {
    let log_path = segment_file_path(dir, base, LOG_SUFFIX);
    let file = open_log_file(&log_path, false)?;
    let file_size = file
        .metadata()
        .map_err(|e| io_context("stat segment", &log_path, e))?
        .len();
    let mut segment = Segment {
        base_offset: base,
        log_path,
        file: SegmentFile::adopt(segment_file_path(dir, base, LOG_SUFFIX), file),
        size: 0,
        next_offset: base,
        max_timestamp: -1,
        offset_index: OffsetIndex::create(
            segment_file_path(dir, base, OFFSET_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?,
        time_index: TimeIndex::create(
            segment_file_path(dir, base, TIME_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?,
        bytes_since_index_entry: 0,
        first_append_ms: None,
        dirty: false,
    };
    let mut position = 0u64;
    let mut batch = Vec::new();
    while let Ok(Some(header)) = read_header_at(&segment.file, position, file_size) {
        batch.resize(header.size, 0);
        if segment.file.read_exact_at(&mut batch, position).is_err() {
            break;
        }
        let Ok(view) = BatchView::parse(&batch) else {
            break;
        };
        let sound = view.magic() == 2
            && view.crc_is_valid()
            && view.base_offset() >= segment.next_offset
            && view.last_offset_delta() >= 0
            && view.record_count() > 0;
        if !sound {
            break;
        }
        segment.index_batch(&header, position, config)?;
        position += header.size as u64;
    }
    segment.size = position;
    if position < file_size {
        warn!(
            segment = %segment.log_path.display(),
            kept = position,
            dropped = file_size - position,
            "truncating torn or corrupt segment tail"
        );
        segment
            .file
            .set_len(position)
            .map_err(|e| io_context("truncate segment", &segment.log_path, e))?;
        segment
            .file
            .sync_data()
            .map_err(|e| io_context("fdatasync", &segment.log_path, e))?;
    }
    Ok(segment)
}
