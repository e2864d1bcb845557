//! SCRAM credentials' durable state: per user and mechanism, what Kafka's
//! `UserScramCredentialRecord` holds (salt, stored key, server key,
//! iterations). Never a password: the stored key and server key are one-way
//! derivations of the salted password, and knowing them does not let anyone
//! authenticate (the client proof needs the client key, which the stored
//! key is a hash of).
//!
//! The local engine keeps every credential in one JSON document,
//! `fjord-scram-credentials.json` in the data dir, replaced atomically as
//! the other metadata files are ([`JsonDocument`]: temp file, fsync, rename, fsync of the
//! directory). The document carries a format version so that a later layout
//! is recognised rather than misread. Byte strings are base64 (standard
//! alphabet, padded), as Kafka's own tools show them.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::json_document::{check_format_version, JsonDocument};
use crate::Result;

pub const SCRAM_FILE: &str = "fjord-scram-credentials.json";

/// The layout this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// One user's credential for one mechanism.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScramCredential {
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for StoredScramCredential {
    /// Shows the iterations only, as Kafka's `ScramCredentialValue` does.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Users by name, each with credentials by mechanism name
/// (`SCRAM-SHA-256`, `SCRAM-SHA-512`).
pub type ScramUsers = BTreeMap<String, BTreeMap<String, StoredScramCredential>>;

/// A change to the credentials, applied under the store's writer lock.
pub type ScramChange = Box<dyn FnOnce(&mut ScramUsers) + Send>;

#[async_trait]
pub trait ScramStore: Send + Sync {
    /// Every stored credential.
    fn users(&self) -> ScramUsers;
    /// The credential of `user` for `mechanism`, if stored.
    fn credential(&self, user: &str, mechanism: &str) -> Option<StoredScramCredential>;
    /// Applies `change` to a copy of the credentials and stores the result
    /// durably before readers see it; if writing fails, nothing changes.
    /// Users left without any credential are dropped.
    async fn update(&self, change: ScramChange) -> Result<()>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    format_version: u32,
    users: ScramUsers,
}

impl Default for Document {
    fn default() -> Self {
        Document {
            format_version: FORMAT_VERSION,
            users: ScramUsers::new(),
        }
    }
}

/// The local engine's SCRAM credential store.
pub struct LocalScramStore {
    document: JsonDocument<Document>,
}

impl LocalScramStore {
    /// Opens the store in `data_dir`, creating the directory if needed; no
    /// file means no credentials yet. A file that cannot be read or parsed
    /// stops start-up: starting without it would lock every SCRAM user out.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let document = JsonDocument::open(
            data_dir,
            SCRAM_FILE,
            "the SCRAM credential file",
            |doc: &Document| check_format_version(doc.format_version, FORMAT_VERSION),
        )?;
        Ok(LocalScramStore { document })
    }

    pub fn path(&self) -> &Path {
        self.document.path()
    }
}

#[async_trait]
impl ScramStore for LocalScramStore {
    fn users(&self) -> ScramUsers {
        self.document.get().users
    }

    fn credential(&self, user: &str, mechanism: &str) -> Option<StoredScramCredential> {
        self.document.get().users.get(user)?.get(mechanism).cloned()
    }

    async fn update(&self, change: ScramChange) -> Result<()> {
        self.document
            .update(|doc| {
                change(&mut doc.users);
                doc.users.retain(|_, mechanisms| !mechanisms.is_empty());
            })
            .await?;
        Ok(())
    }
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(
        bytes: &[u8],
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(iterations: i32) -> StoredScramCredential {
        StoredScramCredential {
            salt: b"salt".to_vec(),
            stored_key: vec![1, 2, 3],
            server_key: vec![4, 5, 6],
            iterations,
        }
    }

    fn put(user: &'static str, mechanism: &'static str, iterations: i32) -> ScramChange {
        Box::new(move |users: &mut ScramUsers| {
            users
                .entry(user.to_string())
                .or_default()
                .insert(mechanism.to_string(), credential(iterations));
        })
    }

    #[tokio::test]
    async fn credentials_survive_a_restart_and_removals_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalScramStore::open(dir.path()).unwrap();
        assert!(store.users().is_empty());
        store
            .update(put("alice", "SCRAM-SHA-256", 4096))
            .await
            .unwrap();
        store
            .update(put("alice", "SCRAM-SHA-512", 8192))
            .await
            .unwrap();
        store
            .update(put("bob", "SCRAM-SHA-512", 4096))
            .await
            .unwrap();
        store
            .update(Box::new(|users: &mut ScramUsers| {
                if let Some(bob) = users.get_mut("bob") {
                    bob.remove("SCRAM-SHA-512");
                }
            }))
            .await
            .unwrap();
        drop(store);

        let reopened = LocalScramStore::open(dir.path()).unwrap();
        let users = reopened.users();
        assert_eq!(
            users.keys().collect::<Vec<_>>(),
            ["alice"],
            "bob has none left"
        );
        assert_eq!(
            reopened.credential("alice", "SCRAM-SHA-512"),
            Some(credential(8192))
        );
        assert_eq!(
            reopened.credential("alice", "SCRAM-SHA-256"),
            Some(credential(4096))
        );
        assert_eq!(reopened.credential("bob", "SCRAM-SHA-512"), None);
        let file = std::fs::read_to_string(dir.path().join(SCRAM_FILE)).unwrap();
        assert!(file.contains("\"format_version\": 1"), "{file}");
        assert!(file.contains("\"salt\": \"c2FsdA==\""), "base64: {file}");
    }

    #[test]
    fn a_damaged_or_newer_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCRAM_FILE);
        std::fs::write(&path, "{\"format_version\": 1, \"users\": ").unwrap();
        let refused = LocalScramStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("is unreadable"), "{refused}");

        std::fs::write(&path, "{\"format_version\": 2, \"users\": {}}").unwrap();
        let refused = LocalScramStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("format version 2"), "{refused}");

        let bad_salt = r#"{"format_version": 1, "users": {"a": {"SCRAM-SHA-256":
            {"salt": "!!", "stored_key": "", "server_key": "", "iterations": 4096}}}}"#;
        std::fs::write(&path, bad_salt).unwrap();
        let refused = LocalScramStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("not base64"), "{refused}");
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let shown = format!("{:?}", credential(4096));
        assert_eq!(shown, "StoredScramCredential { iterations: 4096, .. }");
    }
}
