//! Offsets a partition keeps in small files of its own directory: the log
//! start offset (DeleteRecords' low-water mark) and the recovery point
//! (everything below it is known to be fsynced; see `recovery`).
//!
//! One decimal number per file, replaced atomically: write a temp file, fsync
//! it, rename over the old one, fsync the directory. A crash leaves either
//! the old or the new value.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StorageError};
use crate::local::{io_context, sync_dir};

pub(crate) const LOG_START_FILE: &str = "log-start-offset";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset";

/// The persisted log start offset, `None` if never written.
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>> {
    read_offset_file(dir, LOG_START_FILE)
}

pub(crate) fn write_log_start(dir: &Path, offset: i64) -> Result<()> {
    write_offset_file(dir, LOG_START_FILE, offset)
}

/// The persisted recovery point, `None` if never written.
pub(crate) fn read_recovery_point(dir: &Path) -> Result<Option<i64>> {
    read_offset_file(dir, RECOVERY_POINT_FILE)
}

pub(crate) fn write_recovery_point(dir: &Path, offset: i64) -> Result<()> {
    write_offset_file(dir, RECOVERY_POINT_FILE, offset)
}

fn read_offset_file(dir: &Path, name: &str) -> Result<Option<i64>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_context("read", &path, e)),
    };
    let offset = text.trim().parse::<i64>().map_err(|e| {
        StorageError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}: {text:?}", path.display()),
        ))
    })?;
    Ok(Some(offset))
}

fn write_offset_file(dir: &Path, name: &str, offset: i64) -> Result<()> {
    let temp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&temp).map_err(|e| io_context("create", &temp, e))?;
    file.write_all(format!("{offset}\n").as_bytes())
        .map_err(|e| io_context("write", &temp, e))?;
    file.sync_all().map_err(|e| io_context("fsync", &temp, e))?;
    drop(file);
    let path = dir.join(name);
    std::fs::rename(&temp, &path).map_err(|e| io_context("rename to", &path, e))?;
    sync_dir(dir)
}
