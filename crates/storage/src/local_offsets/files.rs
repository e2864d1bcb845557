//! The log files: naming, recovery at open, and snapshot generations.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::codec::{decode_payload, encode_frame};
use super::state::State;
use crate::error::Result;
use crate::framing::{open_log, write_replacement};
use crate::local::{io_context, sync_dir};

/// Directory under the data dir.
pub const OFFSETS_DIR: &str = "__fjord_offsets";
const PREFIX: &str = "offsets-";
const SUFFIX: &str = ".log";
const TEMP_SUFFIX: &str = ".log.tmp";

pub(crate) fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{generation:020}{SUFFIX}"))
}

fn temp_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{generation:020}{TEMP_SUFFIX}"))
}

/// The log at open: the state it replays to and the handle to append to.
pub(crate) struct Recovered {
    pub(crate) state: State,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) generation: u64,
    /// Bytes of complete records in the file (its length after truncation).
    pub(crate) len: u64,
}

/// Opens (creating if needed) the offsets directory, keeps the highest
/// generation, replays it and cuts any torn tail. Everything kept is
/// fsynced before this returns, so it may be served as committed.
pub(crate) fn recover(data_dir: &Path) -> Result<Recovered> {
    let dir = data_dir.join(OFFSETS_DIR);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| io_context("create dir", &dir, e))?;
        sync_dir(data_dir)?;
    }
    let mut generations = Vec::new();
    let mut dir_changed = false;
    let entries = std::fs::read_dir(&dir).map_err(|e| io_context("read dir", &dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_context("read dir", &dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if rest.ends_with(TEMP_SUFFIX) {
            // A snapshot that never got renamed: incomplete by definition.
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| io_context("remove", &path, e))?;
            dir_changed = true;
        } else if let Some(Ok(generation)) = rest.strip_suffix(SUFFIX).map(str::parse::<u64>) {
            generations.push(generation);
        }
    }
    generations.sort_unstable();
    let generation = generations.last().copied().unwrap_or(0);
    // Older generations are superseded by the (complete, renamed) newest one.
    for old in generations.iter().filter(|g| **g != generation) {
        let path = log_path(&dir, *old);
        std::fs::remove_file(&path).map_err(|e| io_context("remove", &path, e))?;
        dir_changed = true;
    }
    let path = log_path(&dir, generation);
    if generations.is_empty() {
        dir_changed = true;
    }
    let mut state = State::default();
    let (file, len) = open_log(&path, "offset store", |payload| {
        state.apply(decode_payload(payload)?);
        Ok(())
    })?;
    if dir_changed {
        sync_dir(&dir)?;
    }
    Ok(Recovered {
        state,
        file,
        path,
        generation,
        len,
    })
}

/// The live state as framed records (a snapshot's file contents).
pub(crate) fn encode_snapshot(state: &State) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for mutation in state.snapshot() {
        encode_frame(&mutation, &mut out)?;
    }
    Ok(out)
}

/// Writes a snapshot as generation `generation`: temp file, fsync, rename.
/// Returns the handle, positioned for appends, once the rename is done; the
/// caller fsyncs the directory. Before the rename nothing visible changed,
/// and the temp file is removed on failure.
pub(crate) fn write_snapshot(
    dir: &Path,
    generation: u64,
    contents: &[u8],
) -> Result<(File, PathBuf)> {
    let path = log_path(dir, generation);
    let file = write_replacement(&temp_path(dir, generation), &path, contents)?;
    Ok((file, path))
}
