//! Sparse offset index and time index of one segment.
//!
//! Both are kept whole in memory (they are small: one entry per
//! `index.interval.bytes` of log) and hold no file handle: entries added since
//! the last write are appended to the file when the segment is closed and at
//! each flush (an open-write-close). Not memory-mapped: two maps per segment
//! would run into `vm.max_map_count` (65530 by default) long before 100,000
//! partitions, and a mapped file cut short by someone else faults the process.
//! They are hints: readers always re-check the batch headers they lead to, and
//! recovery rebuilds what does not match the log.
//!
//! Offset index entry: (offset - segment base) u32, file position u32, both
//! strictly increasing.
//!
//! Time index entry: (timestamp i64, offset - segment base u32), meaning
//! "every batch before this offset has maxTimestamp <= timestamp". Timestamps
//! strictly increase. A lookup for T may start scanning at the offset of the
//! last entry whose timestamp is < T. When a segment is closed we add one
//! entry at the segment's end offset, which records the segment's max timestamp.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::local::io_context;

pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// Replaces an index file's content with `content`.
fn rewrite_file(path: &Path, content: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| io_context("create index", path, e))?;
    file.write_all(content)
        .map_err(|e| io_context("write index", path, e))
}

/// Reads an index file; `None` if it is missing.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_context("read index", path, e)),
    }
}

/// Appends `entries` to the index file (creating it if it went missing).
fn append_entries(path: &Path, entries: &[u8]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io_context("open index", path, e))?;
    file.write_all(entries)
        .map_err(|e| io_context("append index entries", path, e))
}

/// Appends `entries[*persisted..]` to the file at `path`, encoded.
fn persist_new<E, const N: usize>(
    path: &Path,
    entries: &[E],
    persisted: &mut usize,
    encode: impl Fn(&E) -> [u8; N],
) -> Result<()> {
    let new = entries.get(*persisted..).unwrap_or_default();
    let bytes: Vec<u8> = new.iter().flat_map(encode).collect();
    append_entries(path, &bytes)?;
    *persisted = entries.len();
    Ok(())
}

fn offset_entry(relative_offset: u32, position: u32) -> [u8; OFFSET_ENTRY_LEN] {
    let mut entry = [0u8; OFFSET_ENTRY_LEN];
    entry[..4].copy_from_slice(&relative_offset.to_be_bytes());
    entry[4..].copy_from_slice(&position.to_be_bytes());
    entry
}

fn time_entry(timestamp: i64, relative_offset: u32) -> [u8; TIME_ENTRY_LEN] {
    let mut entry = [0u8; TIME_ENTRY_LEN];
    entry[..8].copy_from_slice(&timestamp.to_be_bytes());
    entry[8..].copy_from_slice(&relative_offset.to_be_bytes());
    entry
}

pub(crate) struct OffsetIndex {
    path: PathBuf,
    /// (relative offset, position)
    entries: Vec<(u32, u32)>,
    /// How many of `entries` the file holds.
    persisted: usize,
    max_entries: usize,
}

impl OffsetIndex {
    /// Writes a fresh index file holding `entries`.
    pub(crate) fn create(
        path: PathBuf,
        entries: Vec<(u32, u32)>,
        max_bytes: usize,
    ) -> Result<Self> {
        let content: Vec<u8> = entries
            .iter()
            .flat_map(|&(relative, position)| offset_entry(relative, position))
            .collect();
        rewrite_file(&path, &content)?;
        Ok(OffsetIndex {
            path,
            persisted: entries.len(),
            entries,
            max_entries: (max_bytes / OFFSET_ENTRY_LEN).max(1),
        })
    }

    /// Loads an existing index; `None` if it is missing or does not fit a log
    /// of `log_size` bytes (then the caller rebuilds it from the log).
    pub(crate) fn load(path: PathBuf, log_size: u64, max_bytes: usize) -> Result<Option<Self>> {
        let Some(bytes) = read_file(&path)? else {
            return Ok(None);
        };
        if bytes.len() % OFFSET_ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_LEN);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_LEN) {
            let relative = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let position = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            let increasing = entries
                .last()
                .is_none_or(|&(r, p): &(u32, u32)| relative > r && position > p);
            if !increasing || u64::from(position) >= log_size {
                return Ok(None);
            }
            entries.push((relative, position));
        }
        Ok(Some(OffsetIndex {
            path,
            persisted: entries.len(),
            entries,
            max_entries: (max_bytes / OFFSET_ENTRY_LEN).max(1),
        }))
    }

    /// Adds an entry in memory; [`OffsetIndex::persist`] writes it out.
    pub(crate) fn append(&mut self, relative_offset: u32, position: u32) {
        self.entries.push((relative_offset, position));
    }

    /// Appends the entries added since the last call to the file.
    pub(crate) fn persist(&mut self) -> Result<()> {
        persist_new(&self.path, &self.entries, &mut self.persisted, |&(r, p)| {
            offset_entry(r, p)
        })
    }

    /// Position of the last indexed batch starting at or before `relative_offset`.
    pub(crate) fn lookup(&self, relative_offset: u32) -> u32 {
        let after = self.entries.partition_point(|&(r, _)| r <= relative_offset);
        match after {
            0 => 0,
            n => self.entries[n - 1].1,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) struct TimeIndex {
    path: PathBuf,
    /// (timestamp, relative offset)
    entries: Vec<(i64, u32)>,
    /// How many of `entries` the file holds.
    persisted: usize,
    max_entries: usize,
}

impl TimeIndex {
    pub(crate) fn create(
        path: PathBuf,
        entries: Vec<(i64, u32)>,
        max_bytes: usize,
    ) -> Result<Self> {
        let content: Vec<u8> = entries
            .iter()
            .flat_map(|&(timestamp, relative)| time_entry(timestamp, relative))
            .collect();
        rewrite_file(&path, &content)?;
        Ok(TimeIndex {
            path,
            persisted: entries.len(),
            entries,
            max_entries: (max_bytes / TIME_ENTRY_LEN).max(1),
        })
    }

    /// Loads an existing time index; `None` if missing or malformed.
    pub(crate) fn load(path: PathBuf, max_bytes: usize) -> Result<Option<Self>> {
        let Some(bytes) = read_file(&path)? else {
            return Ok(None);
        };
        if bytes.len() % TIME_ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN);
        for chunk in bytes.chunks_exact(TIME_ENTRY_LEN) {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&chunk[..8]);
            let timestamp = i64::from_be_bytes(raw);
            let relative = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            let increasing = entries
                .last()
                .is_none_or(|&(t, r): &(i64, u32)| timestamp > t && relative >= r);
            if !increasing {
                return Ok(None);
            }
            entries.push((timestamp, relative));
        }
        Ok(Some(TimeIndex {
            path,
            persisted: entries.len(),
            entries,
            max_entries: (max_bytes / TIME_ENTRY_LEN).max(1),
        }))
    }

    /// Records that every batch before `relative_offset` has a max timestamp
    /// <= `timestamp`. Skipped unless the timestamp grows (entries stay sorted).
    /// In memory; [`TimeIndex::persist`] writes it out.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if self.entries.last().is_some_and(|&(t, _)| timestamp <= t) {
            return;
        }
        self.entries.push((timestamp, relative_offset));
    }

    /// Appends the entries added since the last call to the file.
    pub(crate) fn persist(&mut self) -> Result<()> {
        persist_new(&self.path, &self.entries, &mut self.persisted, |&(t, r)| {
            time_entry(t, r)
        })
    }

    /// Relative offset where a search for the first batch with max timestamp
    /// >= `target` may start (0 when no entry is below the target).
    pub(crate) fn lookup(&self, target: i64) -> u32 {
        let below = self.entries.partition_point(|&(t, _)| t < target);
        match below {
            0 => 0,
            n => self.entries[n - 1].1,
        }
    }

    pub(crate) fn last_entry(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
