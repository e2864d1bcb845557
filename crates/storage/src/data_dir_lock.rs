//! One process per data dir. Two brokers (or a broker and `fjord user add`)
//! writing the same logs and state files would interleave their appends and
//! overwrite each other's documents, so each takes an exclusive lock on
//! `<data_dir>/.lock` first, as Kafka does in each of its log dirs. The
//! kernel drops the lock when the process dies, kill -9 included: no stale
//! lock file ever needs removing by hand.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Kafka's name for it (`LogManager.LockFileName`).
pub const LOCK_FILE: &str = ".lock";

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Creates `data_dir` if needed and locks it, or fails at once with
    /// [`io::ErrorKind::ResourceBusy`] when another process holds it.
    pub fn acquire(data_dir: &Path) -> io::Result<DataDirLock> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "another process holds {}: is a broker already running on {}?",
                    path.display(),
                    data_dir.display()
                ),
            )),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let first = DataDirLock::acquire(&data_dir).expect("first lock");
        assert_eq!(first.path(), data_dir.join(LOCK_FILE));
        // A second open file description conflicts even within one process,
        // as a second process would.
        let refused = DataDirLock::acquire(&data_dir).expect_err("second lock");
        assert_eq!(refused.kind(), io::ErrorKind::ResourceBusy);
        assert!(refused.to_string().contains(".lock"), "{refused}");
        drop(first);
        DataDirLock::acquire(&data_dir).expect("lock again after release");
    }
}
