//! Start-up recovery of the segments' aborted-transaction indexes (see
//! `txn_index`).
//!
//! Each segment's `.txnindex` is loaded and checked against the segment's
//! offsets. A segment scanned after an unclean shutdown must also list
//! exactly the abort markers it holds (an entry whose marker was cut off, or
//! a marker whose entry never reached the disk, show otherwise). If any
//! segment's index is missing, torn or off, the indexes that are are
//! rebuilt by replaying the whole log's headers in order: a transactional
//! batch opens its producer's transaction, a marker closes it, and an abort
//! marker of a transaction with data in the log gives an entry (first
//! offset, marker offset, and the first offset of the oldest transaction
//! still open as the last stable offset).
//!
//! An abort of a transaction without data in this log has no entry, and
//! only a replay tells it from an entry lost in a crash: a scanned segment
//! holding one gets the rebuild too (rare, as clients add a partition to a
//! transaction when they first write to it).
//!
//! A transaction that began in segments retention has deleted is seen from
//! its first batch still in the log: no earlier batch of it is left to skip.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tracing::warn;

use crate::batch::{BatchView, HeaderInfo};
use crate::engine::AbortedTxnEntry;
use crate::error::{Result, StorageError};
use crate::local::load_segment::Loaded;
use crate::local::segment::{read_header_at, Segment};
use crate::local::segment_file_path;
use crate::local::txn_index::{TxnIndex, TXN_INDEX_SUFFIX};
use crate::log::marker::{read_marker, TxnMarker};

/// Loads every segment's index, rebuilding the ones that need it. Returns
/// whether files were written.
pub(crate) fn recover_txn_indexes(dir: &Path, loaded: &mut [Loaded]) -> Result<bool> {
    let mut stale = Vec::new();
    for (i, l) in loaded.iter_mut().enumerate() {
        let segment = &mut l.segment;
        let path = segment_file_path(dir, segment.base_offset, TXN_INDEX_SUFFIX);
        match TxnIndex::load(path, segment.base_offset, segment.next_offset)? {
            Some(index) if !l.scanned || lists_its_aborts(segment, &index)? => {
                segment.txn_index = index;
            }
            _ => stale.push(i),
        }
    }
    if stale.is_empty() {
        return Ok(false);
    }
    warn!(
        dir = %dir.display(),
        segments = stale.len(),
        "aborted-transaction indexes missing or out of step with the log: rebuilding them"
    );
    let mut replay = TxnReplay::default();
    for (i, l) in loaded.iter_mut().enumerate() {
        let mut entries = Vec::new();
        walk_batches(&l.segment, |header, marker| {
            entries.extend(replay.batch(header, marker));
        })?;
        if stale.contains(&i) {
            let path = segment_file_path(dir, l.segment.base_offset, TXN_INDEX_SUFFIX);
            l.segment.txn_index = TxnIndex::create(path, entries)?;
        }
    }
    Ok(true)
}

/// Whether the index lists exactly the segment's abort markers.
fn lists_its_aborts(segment: &Segment, index: &TxnIndex) -> Result<bool> {
    let mut aborts = Vec::new();
    walk_batches(segment, |header, marker| {
        if marker.is_some_and(|m| !m.commit) {
            aborts.push(header.base_offset);
        }
    })?;
    let listed: Vec<i64> = index.entries().iter().map(|e| e.last_offset).collect();
    Ok(aborts == listed)
}

/// Calls `visit` with each batch header of the segment, and the marker a
/// control batch holds. Stops at damage (the recovery rule has decided
/// what is served; nothing beyond it is).
fn walk_batches(
    segment: &Segment,
    mut visit: impl FnMut(&HeaderInfo, Option<TxnMarker>),
) -> Result<()> {
    let mut position = 0;
    loop {
        let header = match read_header_at(&segment.file, position, segment.size) {
            Ok(Some(header)) => header,
            Ok(None) | Err(StorageError::CorruptBatch(_)) => return Ok(()),
            Err(other) => return Err(other),
        };
        let marker = if header.is_control {
            // Control batches are a few dozen bytes: read whole.
            let mut batch = vec![0u8; header.size];
            segment
                .file
                .read_exact_at(&mut batch, position)
                .map_err(StorageError::Io)?;
            BatchView::parse(&batch).ok().and_then(|b| read_marker(&b))
        } else {
            None
        };
        visit(&header, marker);
        position += header.size as u64;
    }
}

/// Open transactions while replaying a log.
#[derive(Default)]
struct TxnReplay {
    /// Producer id -> first offset of its open transaction.
    open: HashMap<i64, i64>,
    /// First offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
}

impl TxnReplay {
    /// The index entry the batch gives, if it is an abort marker.
    fn batch(&mut self, header: &HeaderInfo, marker: Option<TxnMarker>) -> Option<AbortedTxnEntry> {
        let producer_id = header.producer_id;
        if producer_id < 0 {
            return None;
        }
        if header.is_control {
            let marker = marker?;
            let first = self.open.remove(&producer_id);
            if let Some(first) = first {
                self.ongoing.remove(&first);
            }
            let offset = header.base_offset;
            // As appends index it: only an abort of data in this log.
            let first = first?;
            return (!marker.commit).then(|| AbortedTxnEntry {
                producer_id,
                first_offset: first,
                last_offset: offset,
                last_stable_offset: self
                    .ongoing
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or(offset.saturating_add(1)),
            });
        }
        if header.is_transactional && !self.open.contains_key(&producer_id) {
            self.open.insert(producer_id, header.base_offset);
            self.ongoing.insert(header.base_offset, producer_id);
        }
        None
    }
}
