//! One log segment: a `.log` file of whole batches plus its two indexes.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{parse_header, HeaderInfo, BATCH_HEADER_LEN};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::local::file_cache::{OpenFile, SegmentFile};
use crate::local::index::{OffsetIndex, TimeIndex};
use crate::local::txn_index::{TxnIndex, TXN_INDEX_SUFFIX};
use crate::local::{
    io_context, segment_file_path, LOG_SUFFIX, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX,
};

/// Index positions are u32, so no segment may grow past this (Kafka's limit too).
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    /// Opened on demand through the process's file cache (append mode);
    /// readers take the open file under the partition lock, so a segment
    /// deleted after that stays readable to them.
    pub(crate) file: SegmentFile,
    /// Bytes of whole batches in the file.
    pub(crate) size: u64,
    /// Offset after the last batch (the base offset while empty).
    pub(crate) next_offset: i64,
    /// Largest batch maxTimestamp in the segment, -1 when there is none.
    pub(crate) max_timestamp: i64,
    pub(crate) offset_index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// The aborted transactions whose abort marker is in this segment.
    pub(crate) txn_index: TxnIndex,
    pub(crate) bytes_since_index_entry: usize,
    /// Wall-clock time of the first append since it was opened (`segment.ms`).
    pub(crate) first_append_ms: Option<i64>,
    /// Written since the last fsync.
    pub(crate) dirty: bool,
}

/// Opens a `.log` file for appending and positional reads.
pub(crate) fn open_log_file(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(path)
        .map_err(|e| io_context("open segment", path, e))
}

impl Segment {
    /// Creates a new, empty segment starting at `base_offset`.
    pub(crate) fn create(dir: &Path, base_offset: i64, config: &LogConfig) -> Result<Segment> {
        let log_path = segment_file_path(dir, base_offset, LOG_SUFFIX);
        let file = open_log_file(&log_path, true)?;
        let existing = file
            .metadata()
            .map_err(|e| io_context("stat segment", &log_path, e))?
            .len();
        if existing != 0 {
            // Never clobber data: a non-empty file here means the caller's view
            // of the directory is wrong.
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "segment {} already holds {existing} bytes",
                    log_path.display()
                ),
            )));
        }
        let offset_index = OffsetIndex::create(
            segment_file_path(dir, base_offset, OFFSET_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?;
        let time_index = TimeIndex::create(
            segment_file_path(dir, base_offset, TIME_INDEX_SUFFIX),
            Vec::new(),
            config.segment_index_bytes,
        )?;
        let txn_index = TxnIndex::create(
            segment_file_path(dir, base_offset, TXN_INDEX_SUFFIX),
            Vec::new(),
        )?;
        Ok(Segment {
            base_offset,
            file: SegmentFile::adopt(log_path.clone(), file),
            log_path,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_index,
            time_index,
            txn_index,
            bytes_since_index_entry: 0,
            first_append_ms: None,
            dirty: true,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Offset relative to the segment base, as stored in the indexes. The roll
    /// rule keeps every offset of a segment within u32 of its base.
    pub(crate) fn relative(&self, offset: i64) -> u32 {
        u32::try_from(offset.saturating_sub(self.base_offset).max(0)).unwrap_or(u32::MAX)
    }

    /// Whether an append of `incoming_bytes` ending at `last_offset` must go to
    /// a new segment (Kafka rolls before the write that would overflow).
    pub(crate) fn should_roll(
        &self,
        incoming_bytes: u64,
        last_offset: i64,
        config: &LogConfig,
        now: i64,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        let limit = config.segment_bytes.min(MAX_SEGMENT_BYTES);
        let too_big = self.size.saturating_add(incoming_bytes) > limit;
        let offsets_overflow =
            last_offset.saturating_sub(self.base_offset) > i64::from(u32::MAX - 1);
        let indexes_full = self.offset_index.is_full() || self.time_index.is_full();
        too_big || offsets_overflow || indexes_full || self.is_expired_for_roll(config, now)
    }

    /// `segment.ms`: the segment has been taking appends for too long.
    pub(crate) fn is_expired_for_roll(&self, config: &LogConfig, now: i64) -> bool {
        self.first_append_ms
            .is_some_and(|first| now.saturating_sub(first) >= config.segment_ms)
    }

    /// Writes already-validated, offset-assigned batches (`slices`, in
    /// order, one vectored write where the kernel takes them all) and
    /// indexes them. On a write error the file is cut back so it holds only
    /// whole batches. `awaited`: the writer will wait for an fsync of it (acks=all).
    pub(crate) fn append(
        &mut self,
        slices: &mut [IoSlice<'_>],
        headers: &[HeaderInfo],
        config: &LogConfig,
        now: i64,
        awaited: bool,
    ) -> Result<()> {
        let start = self.size;
        let file = self
            .file
            .open()
            .map_err(|e| io_context("open segment", &self.log_path, e))?;
        if awaited {
            self.file.note_awaited_write();
        }
        if let Err(write_err) = write_all_vectored(&file, slices) {
            let err = io_context("append to segment", &self.log_path, write_err);
            if let Err(cut_err) = file.set_len(start) {
                return Err(StorageError::Io(std::io::Error::other(format!(
                    "{err}; then truncating back to {start} failed: {cut_err}"
                ))));
            }
            return Err(err);
        }
        self.dirty = true;
        self.first_append_ms.get_or_insert(now);
        let mut position = start;
        for header in headers {
            self.index_batch(header, position, config)?;
            position += header.size as u64;
        }
        self.size = position;
        Ok(())
    }

    /// Updates indexes and in-memory bounds for one batch written at `position`.
    pub(crate) fn index_batch(
        &mut self,
        header: &HeaderInfo,
        position: u64,
        config: &LogConfig,
    ) -> Result<()> {
        if self.bytes_since_index_entry >= config.index_interval_bytes && position > 0 {
            let relative = self.relative(header.base_offset);
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            self.offset_index.append(relative, position);
            // Everything before this batch has max timestamp <= the segment's so far.
            self.time_index.maybe_append(self.max_timestamp, relative);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.size;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        self.next_offset = header.last_offset.saturating_add(1);
        Ok(())
    }

    /// Called when the segment stops being the active one: records its max
    /// timestamp in the time index (at its end offset) so reopening needs no scan.
    pub(crate) fn close(&mut self) -> Result<()> {
        if !self.is_empty() && self.max_timestamp >= 0 {
            let end = self.relative(self.next_offset);
            self.time_index.maybe_append(self.max_timestamp, end);
        }
        self.persist_indexes()
    }

    /// Writes index entries added since the last call to the index files
    /// (entries live in memory; the files are opened only for this).
    pub(crate) fn persist_indexes(&mut self) -> Result<()> {
        self.offset_index.persist()?;
        self.time_index.persist()?;
        self.txn_index.persist()
    }

    /// File position from which to scan for the batch containing `offset`.
    pub(crate) fn position_for_offset(&self, offset: i64) -> u64 {
        u64::from(self.offset_index.lookup(self.relative(offset)))
    }

    /// File position from which to scan for the first batch with max
    /// timestamp >= `timestamp`.
    pub(crate) fn position_for_timestamp(&self, timestamp: i64) -> u64 {
        let relative = self.time_index.lookup(timestamp);
        if relative == 0 {
            return 0;
        }
        self.position_for_offset(self.base_offset.saturating_add(i64::from(relative)))
    }

    /// Opens the file (through the cache) for a reader.
    pub(crate) fn snapshot(&self) -> Result<SegmentSnapshot> {
        let file = self
            .file
            .open()
            .map_err(|e| io_context("open segment", &self.log_path, e))?;
        Ok(SegmentSnapshot {
            base_offset: self.base_offset,
            file,
            size: self.size,
        })
    }

    /// Paths of the four files, for deletion.
    pub(crate) fn paths(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ]
    }
}

/// `write_all` for slices: writev until every slice is written (a write
/// may stop short, and takes at most IOV_MAX slices).
fn write_all_vectored(mut file: &File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What a reader needs of a segment, taken under the partition lock and used
/// after releasing it.
#[derive(Clone)]
pub(crate) struct SegmentSnapshot {
    pub(crate) base_offset: i64,
    pub(crate) file: Arc<OpenFile>,
    pub(crate) size: u64,
}

/// Positional reads, from an open file or from a segment's cached one.
pub(crate) trait ReadAt {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, position)
    }
}

impl ReadAt for OpenFile {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(&**self, buf, position)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        (**self).read_exact_at(buf, position)
    }
}

impl ReadAt for SegmentFile {
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<()> {
        SegmentFile::read_exact_at(self, buf, position)
    }
}

/// Reads the header of the batch at `position` in a file of `size` valid
/// bytes. `Ok(None)` at the end; an error if the header is cut or malformed.
pub(crate) fn read_header_at(
    file: &(impl ReadAt + ?Sized),
    position: u64,
    size: u64,
) -> Result<Option<HeaderInfo>> {
    if position >= size {
        return Ok(None);
    }
    let available = usize::try_from(size - position).unwrap_or(usize::MAX);
    let mut header = [0u8; BATCH_HEADER_LEN];
    let wanted = available.min(BATCH_HEADER_LEN);
    file.read_exact_at(&mut header[..wanted], position)
        .map_err(StorageError::Io)?;
    let info = parse_header(&header[..wanted])?;
    if info.size as u64 > size - position {
        return Err(StorageError::CorruptBatch(format!(
            "batch at position {position} runs past the end of the segment"
        )));
    }
    Ok(Some(info))
}

/// Where a forward scan for an offset ended.
pub(crate) enum Scanned {
    /// The first batch whose last offset is >= the offset: its position and header.
    Batch(u64, HeaderInfo),
    /// The segment holds no such batch.
    End,
    /// Damaged framing met before such a batch, at `position` (the start of
    /// the damaged batch, which is what an operator looks for in the file).
    Damaged { position: u64, why: String },
}

/// Scans forward from `position` to the first batch whose last offset is >=
/// `offset`.
pub(crate) fn find_batch_containing(
    file: &(impl ReadAt + ?Sized),
    mut position: u64,
    size: u64,
    offset: i64,
) -> Result<Scanned> {
    loop {
        match read_header_at(file, position, size) {
            Ok(Some(header)) if header.last_offset >= offset => {
                return Ok(Scanned::Batch(position, header))
            }
            Ok(Some(header)) => position += header.size as u64,
            Ok(None) => return Ok(Scanned::End),
            Err(StorageError::CorruptBatch(why)) => return Ok(Scanned::Damaged { position, why }),
            Err(other) => return Err(other),
        }
    }
}
