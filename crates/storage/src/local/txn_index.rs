//! The aborted-transaction index of one segment, Kafka's `.txnindex`: one
//! entry per abort marker in the segment, in marker order, each 34 bytes
//! (big-endian): version i16 (0), producer id i64, first offset i64, last
//! offset (the marker's) i64, last stable offset i64.
//!
//! Kept whole in memory (aborts are rare); entries added since the last
//! write are appended to the file and fsynced at the next flush, which an
//! abort marker's own append waits for, so an acknowledged abort has its
//! entry on disk. Unlike the offset and time indexes it is no mere hint
//! (the first offsets it holds are not in the marker), so the file is
//! created with its segment, and a segment whose file is missing or torn
//! gets it rebuilt by recovery from the log (see `txn_recovery`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::AbortedTxnEntry;
use crate::error::Result;
use crate::local::io_context;

pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";
const ENTRY_LEN: usize = 34;
const ENTRY_VERSION: i16 = 0;

pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxnEntry>,
    /// How many of `entries` the file holds.
    persisted: usize,
}

fn encode(entry: &AbortedTxnEntry) -> [u8; ENTRY_LEN] {
    let mut out = [0u8; ENTRY_LEN];
    out[..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
    let fields = [
        entry.producer_id,
        entry.first_offset,
        entry.last_offset,
        entry.last_stable_offset,
    ];
    for (i, field) in fields.iter().enumerate() {
        out[2 + i * 8..10 + i * 8].copy_from_slice(&field.to_be_bytes());
    }
    out
}

fn decode(chunk: &[u8]) -> Option<AbortedTxnEntry> {
    let version = i16::from_be_bytes([*chunk.first()?, *chunk.get(1)?]);
    if version != ENTRY_VERSION {
        return None;
    }
    let field = |i: usize| -> Option<i64> {
        let bytes: [u8; 8] = chunk.get(2 + i * 8..10 + i * 8)?.try_into().ok()?;
        Some(i64::from_be_bytes(bytes))
    };
    Some(AbortedTxnEntry {
        producer_id: field(0)?,
        first_offset: field(1)?,
        last_offset: field(2)?,
        last_stable_offset: field(3)?,
    })
}

impl TxnIndex {
    /// Writes a fresh index file holding `entries` (replacing any).
    pub(crate) fn create(path: PathBuf, entries: Vec<AbortedTxnEntry>) -> Result<TxnIndex> {
        let content: Vec<u8> = entries.iter().flat_map(encode).collect();
        let mut file = File::create(&path).map_err(|e| io_context("create txn index", &path, e))?;
        file.write_all(&content)
            .map_err(|e| io_context("write txn index", &path, e))?;
        Ok(TxnIndex {
            path,
            persisted: entries.len(),
            entries,
        })
    }

    /// The index of a segment holding offsets [`base`, `end`), as its file
    /// has it; `None` if the file is missing or torn (a partial entry, an
    /// unknown version, entries out of the segment or out of order).
    pub(crate) fn load(path: PathBuf, base: i64, end: i64) -> Result<Option<TxnIndex>> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_context("read txn index", &path, e)),
        };
        if bytes.len() % ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries: Vec<AbortedTxnEntry> = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            let Some(entry) = decode(chunk) else {
                return Ok(None);
            };
            let in_order = entries
                .last()
                .is_none_or(|e| entry.last_offset > e.last_offset);
            let fits =
                entry.first_offset <= entry.last_offset && (base..end).contains(&entry.last_offset);
            if !in_order || !fits {
                return Ok(None);
            }
            entries.push(entry);
        }
        Ok(Some(TxnIndex {
            path,
            persisted: entries.len(),
            entries,
        }))
    }

    /// An index not read yet (recovery loads or rebuilds it).
    pub(crate) fn unloaded(path: PathBuf) -> TxnIndex {
        TxnIndex {
            path,
            entries: Vec::new(),
            persisted: 0,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn entries(&self) -> &[AbortedTxnEntry] {
        &self.entries
    }

    /// Adds an entry in memory; `persist` writes it out.
    pub(crate) fn append(&mut self, entry: AbortedTxnEntry) {
        self.entries.push(entry);
    }

    /// Appends the entries added since the last call to the file and
    /// fsyncs it (nothing at all when there are none, the usual case).
    pub(crate) fn persist(&mut self) -> Result<()> {
        let new = self.entries.get(self.persisted..).unwrap_or_default();
        if new.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = new.iter().flat_map(encode).collect();
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| io_context("open txn index", &self.path, e))?;
        file.write_all(&bytes)
            .map_err(|e| io_context("append txn index entries", &self.path, e))?;
        file.sync_data()
            .map_err(|e| io_context("fdatasync", &self.path, e))?;
        self.persisted = self.entries.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(producer_id: i64, first: i64, last: i64, stable: i64) -> AbortedTxnEntry {
        AbortedTxnEntry {
            producer_id,
            first_offset: first,
            last_offset: last,
            last_stable_offset: stable,
        }
    }

    #[test]
    fn entries_round_trip_and_a_torn_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000010.txnindex");
        let mut index = TxnIndex::create(path.clone(), vec![entry(7, 3, 12, 13)]).unwrap();
        index.append(entry(8, 11, 14, 15));
        index.persist().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        let loaded = TxnIndex::load(path.clone(), 10, 20).unwrap().unwrap();
        assert_eq!(loaded.entries(), index.entries());
        // Beyond the segment's end, cut short, or of an unknown version.
        assert!(TxnIndex::load(path.clone(), 10, 14).unwrap().is_none());
        std::fs::write(&path, &bytes[..ENTRY_LEN + 5]).unwrap();
        assert!(TxnIndex::load(path.clone(), 10, 20).unwrap().is_none());
        let mut unknown = bytes.clone();
        unknown[1] = 1;
        std::fs::write(&path, &unknown).unwrap();
        assert!(TxnIndex::load(path.clone(), 10, 20).unwrap().is_none());
        std::fs::remove_file(&path).unwrap();
        assert!(TxnIndex::load(path, 10, 20).unwrap().is_none());
    }
}
