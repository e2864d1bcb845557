//! Walking a segment file batch by batch for recovery: what an intact batch
//! is, what damage is, and where the next intact batch after damage starts
//! (which tells recovery whether damage is a tail it may cut or a hole it must
//! not). A walk never changes the `.log` file; it only fills the in-memory
//! segment and its indexes.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::batch::{parse_header, BatchView, HeaderInfo, BATCH_HEADER_LEN, MAGIC_OFFSET};
use crate::config::LogConfig;
use crate::error::Result;
use crate::local::io_context;
use crate::local::segment::{ReadAt, Segment};

/// How closely a walk checks each batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Check {
    /// Length, magic and offsets: enough to rebuild the indexes of a segment
    /// recovery trusts (below the recovery point, or after a clean shutdown).
    Framing,
    /// Also the CRC32C of every batch: segments that may hold unflushed writes.
    Full,
}

/// A place in a segment file where the bytes are not the batch that should be there.
#[derive(Debug)]
pub(crate) struct Damage {
    pub(crate) path: PathBuf,
    pub(crate) position: u64,
    /// The offset the batch at `position` should start with.
    pub(crate) expected_offset: i64,
    pub(crate) reason: String,
    /// Position of the next intact batch in the same file; `None` when nothing
    /// intact follows in this file.
    pub(crate) resumed_at: Option<u64>,
    /// Only the CRC is wrong; its length, magic and offsets fit its
    /// neighbours, so it is kept and served as stored (a client that checks
    /// CRCs reports it).
    pub(crate) served: bool,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} (where offset {} should start): {}",
            self.path.display(),
            self.position,
            self.expected_offset,
            self.reason
        )?;
        match self.resumed_at {
            Some(at) => write!(f, "; intact batches resume at byte {at}"),
            None => write!(f, "; nothing intact follows in this file"),
        }
    }
}

/// What a walk found in one file.
pub(crate) struct Walked {
    pub(crate) damages: Vec<Damage>,
    /// File position just after the last intact batch (0 if there is none).
    pub(crate) intact_end: u64,
    /// Whether at least one intact batch was found.
    pub(crate) any_intact: bool,
}

enum Inspected {
    Intact(HeaderInfo),
    /// Everything but the CRC fits.
    CrcMismatch(HeaderInfo),
    Bad(String),
}

/// Walks `segment`'s file from `from` to `file_size`, indexing every intact
/// batch into `segment`; `segment.next_offset` must be the offset the batch
/// at `from` should start with.
pub(crate) fn walk(
    segment: &mut Segment,
    from: u64,
    file_size: u64,
    check: Check,
    config: &LogConfig,
) -> Result<Walked> {
    let path = segment.log_path.clone();
    let file = segment
        .file
        .open()
        .map_err(|e| io_context("open segment", &path, e))?;
    let mut walked = Walked {
        damages: Vec::new(),
        intact_end: from,
        any_intact: false,
    };
    let mut buf = Vec::new();
    let mut position = from;
    while position < file_size {
        let expected = segment.next_offset;
        let inspected = inspect(&file, &path, position, file_size, expected, check, &mut buf)?;
        let header = match inspected {
            Inspected::Intact(header) => header,
            Inspected::CrcMismatch(header)
                if starts_intact_batch(
                    &file,
                    &path,
                    position + header.size as u64,
                    file_size,
                    header.last_offset.saturating_add(1),
                    &mut buf,
                )? =>
            {
                walked.damages.push(Damage {
                    path: path.clone(),
                    position,
                    expected_offset: expected,
                    reason: format!(
                        "CRC32C mismatch in the batch of offsets {}..={}",
                        header.base_offset, header.last_offset
                    ),
                    resumed_at: Some(position + header.size as u64),
                    served: true,
                });
                header
            }
            Inspected::CrcMismatch(_) | Inspected::Bad(_) => {
                let reason = match inspected {
                    Inspected::Bad(reason) => reason,
                    _ => "CRC32C mismatch and the next batch does not follow on".to_string(),
                };
                let resumed = find_intact_after(&file, &path, position + 1, file_size, expected)?;
                walked.damages.push(Damage {
                    path: path.clone(),
                    position,
                    expected_offset: expected,
                    reason,
                    resumed_at: resumed.map(|(at, _)| at),
                    served: false,
                });
                let Some((at, header)) = resumed else { break };
                position = at;
                header
            }
        };
        segment.index_batch(&header, position, config)?;
        position += header.size as u64;
        walked.intact_end = position;
        walked.any_intact = true;
    }
    Ok(walked)
}

fn read_at(
    file: &(impl ReadAt + ?Sized),
    path: &Path,
    buf: &mut [u8],
    position: u64,
) -> Result<()> {
    file.read_exact_at(buf, position)
        .map_err(|e| io_context(&format!("read at byte {position} of"), path, e))
}

/// Checks the batch at `position` against what must be there.
fn inspect(
    file: &(impl ReadAt + ?Sized),
    path: &Path,
    position: u64,
    file_size: u64,
    expected_offset: i64,
    check: Check,
    buf: &mut Vec<u8>,
) -> Result<Inspected> {
    let available = file_size.saturating_sub(position);
    if available < BATCH_HEADER_LEN as u64 {
        return Ok(Inspected::Bad(format!(
            "{available} bytes left, less than a batch header"
        )));
    }
    let mut raw = [0u8; BATCH_HEADER_LEN];
    read_at(file, path, &mut raw, position)?;
    let Ok(header) = parse_header(&raw) else {
        return Ok(Inspected::Bad("impossible batch length".to_string()));
    };
    if header.size as u64 > available {
        return Ok(Inspected::Bad(format!(
            "batch length {} runs past the end of the file",
            header.size
        )));
    }
    if header.magic != 2 {
        return Ok(Inspected::Bad(format!("magic {} is not 2", header.magic)));
    }
    if header.base_offset != expected_offset {
        return Ok(Inspected::Bad(format!(
            "base offset {} where {expected_offset} was due",
            header.base_offset
        )));
    }
    if header.last_offset < header.base_offset {
        return Ok(Inspected::Bad("negative last offset delta".to_string()));
    }
    if check == Check::Full {
        buf.resize(header.size, 0);
        read_at(file, path, buf, position)?;
        let view = BatchView::parse(buf)?;
        if view.record_count() <= 0 {
            return Ok(Inspected::Bad("no records".to_string()));
        }
        if !view.crc_is_valid() {
            return Ok(Inspected::CrcMismatch(header));
        }
    }
    Ok(Inspected::Intact(header))
}

/// Whether a fully intact batch starting with `offset` is at `position`. The
/// end of the file does not count: what follows is in another file.
fn starts_intact_batch(
    file: &(impl ReadAt + ?Sized),
    path: &Path,
    position: u64,
    file_size: u64,
    offset: i64,
    buf: &mut Vec<u8>,
) -> Result<bool> {
    Ok(matches!(
        inspect(file, path, position, file_size, offset, Check::Full, buf)?,
        Inspected::Intact(_)
    ))
}

/// Bytes searched at a time for the next intact batch.
const SEARCH_WINDOW: usize = 1 << 20;

/// The first position at or after `from` holding a fully intact batch with a
/// base offset at or above `min_offset` (and within a segment's reach of it).
/// Searches byte by byte, since damage may have destroyed the lengths that
/// lead there; the CRC32C makes a false match in random bytes negligible.
pub(crate) fn find_intact_after(
    file: &(impl ReadAt + ?Sized),
    path: &Path,
    from: u64,
    file_size: u64,
    min_offset: i64,
) -> Result<Option<(u64, HeaderInfo)>> {
    let mut window = Vec::new();
    let mut batch = Vec::new();
    let mut start = from;
    while start.saturating_add(BATCH_HEADER_LEN as u64) <= file_size {
        let len = usize::try_from(file_size - start)
            .unwrap_or(usize::MAX)
            .min(SEARCH_WINDOW + BATCH_HEADER_LEN);
        window.resize(len, 0);
        read_at(file, path, &mut window, start)?;
        let candidates = len - BATCH_HEADER_LEN + 1;
        for i in 0..candidates {
            if window[i + MAGIC_OFFSET] != 2 {
                continue;
            }
            let Ok(header) = parse_header(&window[i..i + BATCH_HEADER_LEN]) else {
                continue;
            };
            let within_reach = header.base_offset >= min_offset
                && header.base_offset - min_offset <= i64::from(u32::MAX);
            if !within_reach {
                continue;
            }
            let at = start + i as u64;
            let offset = header.base_offset;
            if starts_intact_batch(file, path, at, file_size, offset, &mut batch)? {
                return Ok(Some((at, header)));
            }
        }
        start += candidates as u64;
    }
    Ok(None)
}

/// What the next batch served must hold.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NextBatch {
    /// The first batch of a fetch: the one containing this offset.
    Containing(i64),
    /// Any later batch: the one starting exactly here.
    StartingAt(i64),
}

/// Checks batches about to be served from `buf`, read from a segment that
/// has `available` bytes from the start of `buf` on: whole batches laid end
/// to end (one cut by the end of `buf` is left out, unless the segment ends
/// first), magic 2, and offsets continuing as `next` says. Returns the length
/// of the whole batches, or where (within `buf`) and what the damage is:
/// served, it would make consumers jump silently.
pub(crate) fn check_served(
    buf: &[u8],
    available: u64,
    next: &mut NextBatch,
) -> std::result::Result<usize, (usize, String)> {
    let mut position = 0;
    while position < buf.len() {
        let rest = &buf[position..];
        let in_segment = available.saturating_sub(position as u64);
        if rest.len() < BATCH_HEADER_LEN {
            if in_segment < BATCH_HEADER_LEN as u64 {
                return Err((
                    position,
                    format!("{in_segment} bytes left, less than a batch header"),
                ));
            }
            break;
        }
        let header = parse_header(rest).map_err(|e| (position, e.to_string()))?;
        if header.size as u64 > in_segment {
            let why = format!(
                "batch length {} runs past the end of the segment",
                header.size
            );
            return Err((position, why));
        }
        if header.size > rest.len() {
            break;
        }
        if header.magic != 2 {
            return Err((position, format!("magic {} is not 2", header.magic)));
        }
        let fits = match *next {
            NextBatch::Containing(offset) => {
                header.base_offset <= offset && offset <= header.last_offset
            }
            NextBatch::StartingAt(offset) => {
                header.base_offset == offset && header.last_offset >= offset
            }
        };
        if !fits {
            let why = format!(
                "batch of offsets {}..={} where {next:?} was due",
                header.base_offset, header.last_offset
            );
            return Err((position, why));
        }
        *next = NextBatch::StartingAt(header.last_offset.saturating_add(1));
        position += header.size;
    }
    Ok(position)
}
