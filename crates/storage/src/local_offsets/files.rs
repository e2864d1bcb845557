//! The log files: naming, recovery at open, and snapshot generations.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::codec::{decode_payload, encode_frame, read_frame, Frame};
use super::state::State;
use crate::error::{Result, StorageError};
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
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| io_context("open", &path, e))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| io_context("read", &path, e))?;
    let mut state = State::default();
    let valid = replay(&buf, &mut state).map_err(|e| match e {
        StorageError::Metadata(msg) => StorageError::Metadata(format!("{}: {msg}", path.display())),
        other => other,
    })?;
    if valid < buf.len() {
        file.set_len(valid as u64)
            .map_err(|e| io_context("truncate", &path, e))?;
    }
    // Also covers records a crashed process left only in the page cache.
    file.sync_all().map_err(|e| io_context("fsync", &path, e))?;
    if dir_changed {
        sync_dir(&dir)?;
    }
    Ok(Recovered {
        state,
        file,
        path,
        generation,
        len: valid as u64,
    })
}

/// Applies every complete record of `buf` to `state` and returns the length
/// of that valid prefix. Stops at the first torn or corrupt frame; a frame
/// whose CRC matches but which does not decode is an error (not a torn
/// write, so cutting it would lose data a newer version wrote).
pub(crate) fn replay(buf: &[u8], state: &mut State) -> Result<usize> {
    let mut pos = 0;
    while pos < buf.len() {
        match read_frame(&buf[pos..]) {
            Frame::Valid { payload, len } => {
                let mutation = decode_payload(payload)
                    .map_err(|e| StorageError::Metadata(format!("record at byte {pos}: {e}")))?;
                state.apply(mutation);
                pos += len;
            }
            Frame::Torn(why) => {
                tracing::warn!(
                    at = pos,
                    dropped = buf.len() - pos,
                    "offset store log has a torn or corrupt tail ({why}); truncating"
                );
                break;
            }
        }
    }
    Ok(pos)
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
    let temp = temp_path(dir, generation);
    let written = (|| {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&temp)
            .map_err(|e| io_context("create", &temp, e))?;
        file.set_len(0)
            .map_err(|e| io_context("truncate", &temp, e))?;
        file.write_all(contents)
            .map_err(|e| io_context("write", &temp, e))?;
        file.sync_all().map_err(|e| io_context("fsync", &temp, e))?;
        let path = log_path(dir, generation);
        std::fs::rename(&temp, &path).map_err(|e| io_context("rename to", &path, e))?;
        Ok((file, path))
    })();
    if written.is_err() {
        if let Err(e) = std::fs::remove_file(&temp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %temp.display(), error = %e, "cannot remove snapshot temp file");
            }
        }
    }
    written
}
