//! Loading a partition directory at start-up: the recovery rule.
//!
//! Two facts decide how much is checked:
//! - the **clean-shutdown marker** (`.kafka_cleanshutdown` in the data dir,
//!   as Kafka names it), written at clean shutdown after every log is
//!   fsynced, removed at start-up once the logs are loaded (`store`);
//! - the partition's **recovery point** (`recovery-point-offset` in its
//!   directory): every offset below it is known to be fsynced. It moves up to
//!   the active segment's base once the closed segments are fsynced: by the
//!   first flush after a roll (an acks=all write's group commit, or
//!   housekeeping's, as Kafka flushes a rolled segment). Being at segment
//!   granularity, it is not moved at clean shutdown: that would only spare
//!   scanning segments rolled since the last flush.
//!
//! What is scanned:
//! - After a clean shutdown nothing is scanned or rewritten. Each segment's
//!   indexes get cheap sanity checks (sizes, order, the last entry pointing
//!   at a batch with its offset); an index that fails them is rebuilt from the
//!   batch headers. The end of the active segment is read from its last index
//!   entry on.
//! - After an unclean shutdown, segments wholly below the recovery point are
//!   loaded as after a clean shutdown; the segments from the recovery point
//!   on (always the last one) are scanned batch by batch: length, magic,
//!   offsets continuing exactly from the previous batch (and segment), and
//!   CRC32C. Their indexes are rebuilt as they are scanned.
//!
//! What is cut: only a **tail**, and only in the scanned region. Damage (a
//! torn or garbage batch, or offsets missing between two segments) is a tail
//! when no intact batch follows it anywhere: not later in its file (searched
//! byte by byte, since damage may hide the batch lengths) and not in a later
//! segment. A tail is cut off (the file truncated, later garbage-only
//! segments deleted); the log then ends at the last intact batch. Nothing
//! is ever cut after a clean shutdown or below the recovery point.
//!
//! What is served: a batch whose only fault is its CRC32C, while its length,
//! magic and offsets fit and an intact batch follows it in the same file, is
//! kept and served as stored (Kafka does not re-check CRCs when serving;
//! clients that check CRCs report it). It is logged as an error.
//!
//! What goes offline: any other damage with intact data after it (or found
//! where nothing may be cut). The partition keeps its files as they are and
//! answers every request with KAFKA_STORAGE_ERROR; each damage is logged as
//! an error naming the file, the byte position and the offset due there. The
//! other partitions keep serving. Cutting would leave a hole under the
//! watermarks that consumers skip silently; that never happens.
//!
//! Damage in segments that are not scanned is found when read: the reader
//! checks batch lengths and that offsets continue, and takes the partition
//! offline the same way (`read`).

use std::collections::BTreeMap;
use std::path::Path;

use tracing::{error, warn};

use crate::config::LogConfig;
use crate::error::Result;
use crate::local::load_segment::{load_trusted, scan_segment, Loaded};
use crate::local::log_start::{read_log_start, read_recovery_point};
use crate::local::partition::PartitionState;
use crate::local::scan::Damage;
use crate::local::segment::Segment;
use crate::local::state::Offline;
use crate::local::txn_recovery::recover_txn_indexes;
use crate::local::{io_context, sync_dir};

/// How the broker last stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shutdown {
    Clean,
    Unclean,
}

/// Loads (or creates) the partition in `dir`.
pub(crate) fn load_partition(
    dir: &Path,
    config: &LogConfig,
    shutdown: Shutdown,
) -> Result<PartitionState> {
    std::fs::create_dir_all(dir).map_err(|e| io_context("create partition dir", dir, e))?;
    let bases = segment_base_offsets(dir)?;
    let persisted_log_start = read_log_start(dir)?.unwrap_or(0);
    let recovery_point = read_recovery_point(dir)?.unwrap_or(0);

    let mut loaded = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let end = bases.get(i + 1).copied();
        let scanned = shutdown == Shutdown::Unclean && end.is_none_or(|end| end > recovery_point);
        loaded.push(if scanned {
            scan_segment(dir, base, config)?
        } else {
            load_trusted(dir, base, end, shutdown == Shutdown::Clean, config)?
        });
    }
    note_missing_offsets(&mut loaded);
    let mut changed = false;
    if shutdown == Shutdown::Unclean {
        changed = cut_tail(&mut loaded)?;
    }
    let failure = report(&loaded);
    if failure.is_none() {
        changed |= recover_txn_indexes(dir, &mut loaded)?;
    }
    if shutdown == Shutdown::Unclean {
        // What was scanned may still sit in the page cache only.
        for l in loaded.iter().filter(|l| l.scanned) {
            l.segment
                .file
                .sync_data()
                .map_err(|e| io_context("fdatasync", &l.segment.log_path, e))?;
        }
    }

    let first_base = bases.first().copied().unwrap_or(persisted_log_start);
    let segments: BTreeMap<i64, Segment> = loaded
        .into_iter()
        .map(|l| (l.segment.base_offset, l.segment))
        .collect();
    let mut state = PartitionState {
        segments,
        log_start_offset: persisted_log_start.max(first_base),
        config: config.clone(),
        dir_dirty: false,
        failure: failure.map(Offline::Failed),
        recovery_point: 0,
    };
    // A cut tail can leave the log ending below its start offset (or there
    // may be no segment at all): start afresh at the log start offset. Never
    // for an offline partition, whose files stay as found.
    let fresh = state.segments.is_empty() || state.next_offset() < state.log_start_offset;
    if fresh && state.failure.is_none() {
        for segment in std::mem::take(&mut state.segments).into_values() {
            remove_segment_files(&segment)?;
        }
        let segment = Segment::create(dir, state.log_start_offset, config)?;
        state.segments.insert(state.log_start_offset, segment);
        changed = true;
    } else if fresh && !state.segments.is_empty() {
        // Offline with its files as found: its offsets are only reported
        // (every request is refused), but never a log start above the end.
        state.log_start_offset = state.next_offset();
    }
    state.active_mut()?.dirty = false;
    if changed || shutdown == Shutdown::Unclean {
        if changed {
            let active = state.active()?;
            active
                .file
                .sync_data()
                .map_err(|e| io_context("fdatasync", &active.log_path, e))?;
        }
        sync_dir(dir)?;
    }
    // As persisted; after a crash recovery fsynced more, which the next
    // flush records.
    state.recovery_point = recovery_point;
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

/// Offsets missing between two segments are damage at the start of the later one.
fn note_missing_offsets(loaded: &mut [Loaded]) {
    for i in 1..loaded.len() {
        let previous_end = loaded[i - 1].segment.next_offset;
        let this = &mut loaded[i];
        if this.segment.base_offset != previous_end {
            let gap = Damage {
                path: this.segment.log_path.clone(),
                position: 0,
                expected_offset: previous_end,
                reason: format!(
                    "the previous segment ends at offset {previous_end} but this one starts at {}",
                    this.segment.base_offset
                ),
                resumed_at: this.any_intact.then_some(0),
                served: false,
            };
            this.damages.insert(0, gap);
        }
    }
}

/// Cuts the damaged tail of the scanned region, if there is one: damage
/// with no intact batch after it anywhere. Returns whether files changed.
fn cut_tail(loaded: &mut Vec<Loaded>) -> Result<bool> {
    let mut cut = None;
    for i in (0..loaded.len()).rev() {
        let l = &loaded[i];
        if !l.scanned {
            break;
        }
        if l.any_intact {
            let torn = l
                .damages
                .last()
                .filter(|d| d.resumed_at.is_none() && !d.served);
            if let Some(d) = torn {
                cut = Some((i, d.position));
            }
            break;
        }
        cut = Some((i, 0));
    }
    let Some((at, position)) = cut else {
        return Ok(false);
    };
    let nothing_to_cut =
        at + 1 == loaded.len() && loaded[at].file_size == position && loaded[at].damages.is_empty();
    if nothing_to_cut {
        return Ok(false);
    }
    for doomed in loaded.drain(at + 1..) {
        warn!(segment = %doomed.segment.log_path.display(), "deleting a segment with no intact batch after a damaged tail");
        remove_segment_files(&doomed.segment)?;
    }
    let l = &mut loaded[at];
    l.damages.retain(|d| d.position < position);
    if position < l.file_size {
        warn!(
            segment = %l.segment.log_path.display(),
            kept = position,
            dropped = l.file_size - position,
            "cutting a torn or damaged tail: no intact batch follows it"
        );
        l.segment
            .file
            .set_len(position)
            .map_err(|e| io_context("truncate segment", &l.segment.log_path, e))?;
        l.file_size = position;
        l.segment.size = position;
    }
    // An emptied segment that does not continue the previous one would
    // leave its missing offsets under the high watermark.
    let orphan = at > 0
        && position == 0
        && loaded[at].segment.base_offset != loaded[at - 1].segment.next_offset;
    if orphan {
        let l = loaded.remove(at);
        warn!(segment = %l.segment.log_path.display(), "deleting an emptied segment that does not continue the log");
        remove_segment_files(&l.segment)?;
    }
    Ok(true)
}

/// Logs every damage left after the tail cut; returns why the partition is
/// offline, if it is.
fn report(loaded: &[Loaded]) -> Option<String> {
    let mut failure = None;
    for damage in loaded.iter().flat_map(|l| &l.damages) {
        if damage.served {
            error!(%damage, "damaged batch kept and served as stored: consumers that check CRCs will report it");
        } else {
            error!(%damage, "damaged log data with intact data after it: partition offline, nothing cut");
            failure.get_or_insert_with(|| format!("damaged log data: {damage}"));
        }
    }
    failure
}

fn remove_segment_files(segment: &Segment) -> Result<()> {
    segment.file.discard();
    for path in segment.paths() {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_context("delete segment file", &path, e)),
        }
    }
    Ok(())
}
