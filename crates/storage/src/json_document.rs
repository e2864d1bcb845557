//! A small metadata document kept whole in memory and in one JSON file,
//! replaced atomically at each change (temp file, fsync, rename, fsync of
//! the directory: [`write_json_atomically`]). Suits state that changes
//! rarely and is small next to the logs (ACLs, client quotas): a whole
//! rewrite per change is cheap, and a change acknowledged survives a crash.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::meta::write_json_atomically;
use crate::{Result, StorageError};

pub struct JsonDocument<D> {
    path: PathBuf,
    /// What the document is, for messages ("the ACL file").
    what: &'static str,
    value: Mutex<D>,
    /// Writers take turns, so documents reach the disk in the order they
    /// were changed in memory.
    write_lock: tokio::sync::Mutex<()>,
}

impl<D> JsonDocument<D>
where
    D: Serialize + DeserializeOwned + Clone + Default + Send + 'static,
{
    /// Opens `file` in `data_dir` (creating the directory; no file is the
    /// default document). A file that cannot be read or parsed, or that
    /// `check` refuses, stops start-up: running without the state it holds
    /// would change who may do what.
    pub fn open(
        data_dir: &Path,
        file: &str,
        what: &'static str,
        check: impl FnOnce(&D) -> std::result::Result<(), String>,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(file);
        let refuse = |why: String| {
            StorageError::Metadata(format!(
                "{what} {} {why}; refusing to start. Restore it from a backup or correct it by \
                 hand",
                path.display()
            ))
        };
        let value = match std::fs::read(&path) {
            Ok(bytes) => {
                let value: D = serde_json::from_slice(&bytes)
                    .map_err(|e| refuse(format!("is unreadable ({e})")))?;
                check(&value).map_err(refuse)?;
                value
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => D::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(JsonDocument {
            path,
            what,
            value: Mutex::new(value),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The file the document is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The document as last stored.
    pub fn get(&self) -> D {
        self.value.lock().clone()
    }

    /// Applies `change` to a copy of the document and stores the result
    /// durably before [`get`](Self::get) returns it; if writing fails,
    /// nothing changes. Returns what `change` returned, with the document
    /// as stored.
    pub async fn update<T>(&self, change: impl FnOnce(&mut D) -> T) -> Result<(T, D)> {
        let _writer = self.write_lock.lock().await;
        let mut next = self.value.lock().clone();
        let outcome = change(&mut next);
        let (path, doc) = (self.path.clone(), next.clone());
        let what = self.what;
        tokio::task::spawn_blocking(move || write_json_atomically(&path, &doc))
            .await
            .map_err(|e| StorageError::Metadata(format!("writing {what} failed: {e}")))??;
        *self.value.lock() = next.clone();
        Ok((outcome, next))
    }
}

/// For [`JsonDocument::open`]'s check: a document written in another layout
/// is refused rather than misread.
pub fn check_format_version(found: u32, expected: u32) -> std::result::Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "has format version {found}, and this build reads version {expected}"
        ))
    }
}
