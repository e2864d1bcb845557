//! Producer-state snapshots of a local partition, beside its segments:
//! `<offset, 20 digits>.snapshot` (Kafka's name), each the `Log`'s producer
//! state for the batches below that offset, as opaque bytes. Written to a
//! temp name, fsynced and renamed; the newest two are kept.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::warn;

use crate::error::Result;
use crate::framing::write_replacement;
use crate::local::partition::LocalPartitionLog;
use crate::local::{io_context, segment_file_path, sync_dir};

const SNAPSHOT_SUFFIX: &str = "snapshot";
/// One more than needed: the newest may describe batches a crash cut off.
const SNAPSHOTS_KEPT: usize = 2;

/// The snapshots in `dir`, oldest first.
fn list(dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_context("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_context("list", dir, e))?;
        let name = entry.file_name();
        let Some(offset) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".snapshot"))
            .and_then(|stem| stem.parse::<i64>().ok())
        else {
            continue;
        };
        found.push((offset, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn remove(path: &Path, why: &str) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "cannot remove {why}"),
    }
}

impl LocalPartitionLog {
    /// Blocking: the newest snapshot at or below the log end; newer ones
    /// (their batches were cut off by recovery) are removed.
    pub(crate) fn newest_producer_snapshot(&self) -> Result<Option<(i64, Bytes)>> {
        let log_end = {
            let state = self.state.lock();
            state.check_usable()?;
            state.next_offset()
        };
        for (offset, path) in list(&self.dir)?.into_iter().rev() {
            if offset > log_end {
                remove(&path, "a producer snapshot beyond the log end");
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| io_context("read", &path, e))?;
            return Ok(Some((offset, Bytes::from(bytes))));
        }
        Ok(None)
    }

    /// Blocking: writes the snapshot for `offset` durably and drops all but
    /// the newest ones.
    pub(crate) fn keep_producer_snapshot(&self, offset: i64, bytes: &[u8]) -> Result<()> {
        self.state.lock().check_usable()?;
        let path = segment_file_path(&self.dir, offset, SNAPSHOT_SUFFIX);
        let temp = self.dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}.tmp"));
        write_replacement(&temp, &path, bytes)?;
        sync_dir(&self.dir)?;
        let all = list(&self.dir)?;
        let surplus = all.len().saturating_sub(SNAPSHOTS_KEPT);
        for (_, old) in &all[..surplus] {
            remove(old, "an old producer snapshot");
        }
        Ok(())
    }
}
