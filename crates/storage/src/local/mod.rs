//! The local disk engine: one directory per partition, Kafka's layout.
//!
//! ```text
//! <data_dir>/<topic>-<partition>/
//!     00000000000000000000.log        record batches, byte-for-byte as produced
//!     00000000000000000000.index      sparse offset index: (relative offset u32, position u32)
//!     00000000000000000000.timeindex  time index: (timestamp i64, relative offset u32)
//!     00000000000000000000.txnindex   aborted transactions whose abort marker is here
//!     00000000000000000042.snapshot   producer state below offset 42 (the `Log`'s)
//!     log-start-offset                the DeleteRecords low-water mark (text, one number)
//!     partition.metadata              the topic id the directory belongs to (Kafka's format)
//! ```
//!
//! The store keys partitions by topic id; a directory is served only for the
//! id in its `partition.metadata` (see `partition_metadata`).
//!
//! This is an engine under the [`Log`](crate::log::Log): batches reach it
//! validated and with their offsets assigned (see `append`).
//!
//! The `.log` file is the only source of truth: indexes are hints that
//! recovery checks and rebuilds, and every read re-checks batch headers.

mod append;
pub(crate) mod blocking;
pub(crate) mod cached_read;
pub(crate) mod file_cache;
mod flush;
mod headers;
mod index;
mod load_segment;
mod log_start;
mod partition;
mod partition_metadata;
mod read;
mod read_ranges;
mod recovery;
mod retention;
mod scan;
pub(crate) mod segment;
mod snapshots;
mod state;
mod store;
mod timestamp;
mod txn_index;
mod txn_recovery;

pub use blocking::{install_read_hook, ReadHook, ReadHookGuard, ReadKind, FOREGROUND_PERMITS};
pub use file_cache::{open_segment_files, set_max_open_segment_files};
pub use partition::LocalPartitionLog;
pub use store::LocalLogStore;

use std::io;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
pub(crate) use crate::now_ms;

pub(crate) const LOG_SUFFIX: &str = "log";
pub(crate) const OFFSET_INDEX_SUFFIX: &str = "index";
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";
/// Suffix of a partition directory being deleted (removed again at startup).
pub(crate) const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of a directory moved aside because a new partition needed its
/// place (Kafka's name for logs no topic owns). Kept for the operator, never
/// loaded.
pub(crate) const STRAY_DIR_SUFFIX: &str = "-stray";

/// `<dir>/<base offset, 20 digits>.<suffix>`, Kafka's segment file naming.
pub(crate) fn segment_file_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

pub(crate) fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits `<topic>-<partition>` at the last '-' (topic names may contain '-').
pub(crate) fn parse_partition_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    if partition < 0 || !is_valid_topic_name(topic) {
        return None;
    }
    Some((topic.to_string(), partition))
}

/// Kafka's legal topic characters; anything else could escape the data dir.
pub(crate) fn is_valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic != "."
        && topic != ".."
        && topic.len() <= 249
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

/// Keeps the failing path (and what we were doing) in the error.
pub(crate) fn io_context(action: &str, path: &Path, err: io::Error) -> StorageError {
    StorageError::Io(io::Error::new(
        err.kind(),
        format!("{action} {}: {err}", path.display()),
    ))
}

/// fsyncs a directory so renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let handle = std::fs::File::open(dir).map_err(|e| io_context("open dir", dir, e))?;
    handle
        .sync_all()
        .map_err(|e| io_context("fsync dir", dir, e))
}
