//! Which topic a partition directory belongs to: `partition.metadata`, as
//! Kafka names and writes it (`version: 0` and `topic_id: <Kafka uuid>`).
//!
//! Directories keep Kafka's `<topic>-<partition>` names, so a name can be
//! reused by a later topic; the id file is what ties a directory to one
//! topic. A directory is only ever served for the topic id it holds: one
//! holding another id (the data of a deleted topic of the same name, whose
//! deletion a crash cut short) is moved aside, never adopted.

use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::{info, warn};
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::kafka_uuid::{parse_kafka_string, to_kafka_string};
use crate::local::{io_context, sync_dir, STRAY_DIR_SUFFIX};

pub(crate) const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// The topic id `dir` belongs to; `None` if it has no id file (made before
/// ids were kept). A file Fjord cannot have written is an error.
pub(crate) fn read_topic_id(dir: &Path) -> Result<Option<Uuid>> {
    let path = dir.join(PARTITION_METADATA_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_context("read", &path, e)),
    };
    let mut version = None;
    let mut topic_id = None;
    for line in text.lines() {
        match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("version", v)) => version = Some(v.to_string()),
            Some(("topic_id", v)) => topic_id = parse_kafka_string(v),
            _ => {}
        }
    }
    match (version.as_deref(), topic_id) {
        (Some("0"), Some(id)) => Ok(Some(id)),
        _ => Err(StorageError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a version 0 partition metadata file with a topic id: {text:?}",
                path.display()
            ),
        ))),
    }
}

/// Writes the id file durably (temp file, fsync, rename, fsync `dir`).
pub(crate) fn write_topic_id(dir: &Path, topic_id: Uuid) -> Result<()> {
    let temp = dir.join(format!("{PARTITION_METADATA_FILE}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(|e| io_context("create", &temp, e))?;
    file.write_all(format!("version: 0\ntopic_id: {}\n", to_kafka_string(topic_id)).as_bytes())
        .map_err(|e| io_context("write", &temp, e))?;
    file.sync_all().map_err(|e| io_context("fsync", &temp, e))?;
    drop(file);
    let path = dir.join(PARTITION_METADATA_FILE);
    std::fs::rename(&temp, &path).map_err(|e| io_context("rename", &temp, e))?;
    sync_dir(dir)
}

/// Makes `dir` a new, empty directory of `topic_id`'s partition.
pub(crate) fn make_partition_dir(data_dir: &Path, dir: &Path, topic_id: Uuid) -> Result<()> {
    std::fs::create_dir(dir).map_err(|e| io_context("create partition dir", dir, e))?;
    write_topic_id(dir, topic_id)?;
    sync_dir(data_dir)
}

/// Makes sure `dir` is `topic_id`'s before its data is loaded: a missing
/// directory is made, one without an id file is adopted (written before
/// ids were kept; the metadata names it), one of another topic is moved
/// aside and replaced by an empty one.
pub(crate) fn claim_partition_dir(data_dir: &Path, dir: &Path, topic_id: Uuid) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warn!(
                dir = %dir.display(),
                "the metadata lists this partition but its directory is missing; starting it empty"
            );
            return make_partition_dir(data_dir, dir, topic_id);
        }
        Err(e) => return Err(io_context("stat", dir, e)),
        Ok(_) => {}
    }
    match read_topic_id(dir)? {
        Some(found) if found == topic_id => Ok(()),
        Some(found) => {
            let aside = move_aside(data_dir, dir)?;
            warn!(
                dir = %dir.display(),
                moved_to = %aside.display(),
                found_topic_id = %to_kafka_string(found),
                topic_id = %to_kafka_string(topic_id),
                "the partition directory belongs to another topic of the same name (one \
                 deleted, whose deletion did not finish); moved aside, the partition starts empty"
            );
            make_partition_dir(data_dir, dir, topic_id)
        }
        None => {
            info!(dir = %dir.display(), "partition directory without a topic id: adopted, id written");
            write_topic_id(dir, topic_id)
        }
    }
}

/// Renames `dir` to `<name>.<random>-stray` in `data_dir`, kept for the
/// operator and never loaded; returns the new path.
pub(crate) fn move_aside(data_dir: &Path, dir: &Path) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = data_dir.join(format!(
        "{name}.{}{STRAY_DIR_SUFFIX}",
        Uuid::new_v4().simple()
    ));
    std::fs::rename(dir, &aside).map_err(|e| io_context("move aside", dir, e))?;
    sync_dir(data_dir)?;
    Ok(aside)
}
