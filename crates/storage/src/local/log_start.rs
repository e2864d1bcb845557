//! The persisted log start offset (DeleteRecords' low-water mark).
//!
//! One decimal number in `<partition dir>/log-start-offset`, replaced
//! atomically: write a temp file, fsync it, rename over the old one, fsync
//! the directory. A crash leaves either the old or the new value.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StorageError};
use crate::local::{io_context, sync_dir};

pub(crate) const LOG_START_FILE: &str = "log-start-offset";
const LOG_START_TEMP_FILE: &str = "log-start-offset.tmp";

/// The persisted log start offset, `None` if never written.
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>> {
    let path = dir.join(LOG_START_FILE);
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

pub(crate) fn write_log_start(dir: &Path, offset: i64) -> Result<()> {
    let temp = dir.join(LOG_START_TEMP_FILE);
    let mut file = File::create(&temp).map_err(|e| io_context("create", &temp, e))?;
    file.write_all(format!("{offset}\n").as_bytes())
        .map_err(|e| io_context("write", &temp, e))?;
    file.sync_all().map_err(|e| io_context("fsync", &temp, e))?;
    drop(file);
    let path = dir.join(LOG_START_FILE);
    std::fs::rename(&temp, &path).map_err(|e| io_context("rename to", &path, e))?;
    sync_dir(dir)
}
