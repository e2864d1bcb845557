//! Delegation tokens' durable state: what Kafka's `DelegationTokenRecord`
//! holds (id, owner, requester, renewers, issue, expiry and maximum
//! times). A token's HMAC is never stored: the broker derives it from the
//! token id and `delegation.token.secret.key` whenever it needs it, as
//! Kafka does, so the file gives nobody a credential.
//!
//! The local engine keeps every token in one JSON document,
//! `fjord-delegation-tokens.json` in the data dir, replaced atomically as
//! the metadata file is (temp file, fsync, rename, fsync of the directory).
//! Tokens are few and change rarely.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::meta::write_json_atomically;
use crate::{Result, StorageError};

pub const TOKENS_FILE: &str = "fjord-delegation-tokens.json";

/// A Kafka principal as stored: `type:name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrincipal {
    pub principal_type: String,
    pub name: String,
}

/// One delegation token's information (Kafka's `TokenInformation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub token_id: String,
    pub owner: StoredPrincipal,
    pub requester: StoredPrincipal,
    pub renewers: Vec<StoredPrincipal>,
    pub issue_timestamp_ms: i64,
    /// When the token stops being valid unless renewed.
    pub expiry_timestamp_ms: i64,
    /// Past this no renewal extends it.
    pub max_timestamp_ms: i64,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Every stored token, by id.
    fn tokens(&self) -> Vec<StoredToken>;
    /// Stores `token` durably, replacing the one with its id.
    async fn put(&self, token: StoredToken) -> Result<()>;
    /// Removes these tokens durably; ids not stored are ignored.
    async fn remove(&self, token_ids: &[String]) -> Result<()>;
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Document {
    tokens: BTreeMap<String, StoredToken>,
}

/// The local engine's token store.
pub struct LocalTokenStore {
    path: PathBuf,
    doc: Mutex<Document>,
    /// Writers take turns, so documents reach the disk in the order they
    /// were changed in memory.
    write_lock: tokio::sync::Mutex<()>,
}

impl LocalTokenStore {
    /// Opens the store in `data_dir`; no file means no tokens yet. A file
    /// that cannot be read or parsed stops start-up: starting without it
    /// would silently revoke every token.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(TOKENS_FILE);
        let doc = match std::fs::read(&path) {
            Ok(bytes) => parse_document(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Document::default(),
            Err(e) => {
                return Err(StorageError::Metadata(format!(
                    "cannot read the delegation token file {}: {e}; refusing to start without it",
                    path.display()
                )))
            }
        };
        Ok(LocalTokenStore {
            path,
            doc: Mutex::new(doc),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    async fn update(&self, change: impl FnOnce(&mut Document)) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut next = self.doc.lock().clone();
        change(&mut next);
        let path = self.path.clone();
        let to_write = next.clone();
        tokio::task::spawn_blocking(move || write_json_atomically(&path, &to_write))
            .await
            .map_err(|e| StorageError::Metadata(format!("token writer failed: {e}")))??;
        *self.doc.lock() = next;
        Ok(())
    }
}

/// Refuses a document whose entries contradict their keys.
fn check(doc: &Document) -> std::result::Result<(), String> {
    match doc
        .tokens
        .iter()
        .find(|(key, token)| **key != token.token_id)
    {
        Some((key, token)) => Err(format!(
            "files token '{}' under the key '{key}'",
            token.token_id
        )),
        None => Ok(()),
    }
}

fn parse_document(path: &Path, bytes: &[u8]) -> Result<Document> {
    let refuse = |why: String| {
        StorageError::Metadata(format!(
            "the delegation token file {} {why}; refusing to start. Restore it from a \
             backup, or remove it to revoke every token",
            path.display()
        ))
    };
    let doc: Document =
        serde_json::from_slice(bytes).map_err(|e| refuse(format!("is unreadable ({e})")))?;
    check(&doc).map_err(refuse)?;
    Ok(doc)
}

#[async_trait]
impl TokenStore for LocalTokenStore {
    fn tokens(&self) -> Vec<StoredToken> {
        self.doc.lock().tokens.values().cloned().collect()
    }

    async fn put(&self, token: StoredToken) -> Result<()> {
        self.update(|doc| {
            doc.tokens.insert(token.token_id.clone(), token);
        })
        .await
    }

    async fn remove(&self, token_ids: &[String]) -> Result<()> {
        if !token_ids
            .iter()
            .any(|id| self.doc.lock().tokens.contains_key(id))
        {
            return Ok(());
        }
        self.update(|doc| {
            for id in token_ids {
                doc.tokens.remove(id);
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> StoredPrincipal {
        StoredPrincipal {
            principal_type: "User".into(),
            name: name.into(),
        }
    }

    fn token(id: &str, expiry: i64) -> StoredToken {
        StoredToken {
            token_id: id.into(),
            owner: principal("alice"),
            requester: principal("alice"),
            renewers: vec![principal("bob")],
            issue_timestamp_ms: 1_000,
            expiry_timestamp_ms: expiry,
            max_timestamp_ms: 9_000,
        }
    }

    #[tokio::test]
    async fn tokens_survive_a_restart_and_removals_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalTokenStore::open(dir.path()).unwrap();
        assert!(store.tokens().is_empty());
        store.put(token("a", 2_000)).await.unwrap();
        store.put(token("b", 3_000)).await.unwrap();
        store.put(token("a", 5_000)).await.unwrap();
        store.remove(&["b".into(), "never".into()]).await.unwrap();
        drop(store);

        let reopened = LocalTokenStore::open(dir.path()).unwrap();
        assert_eq!(reopened.tokens(), vec![token("a", 5_000)]);
        let file = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!file.contains("hmac"), "no credential is stored: {file}");
    }

    #[test]
    fn a_damaged_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKENS_FILE);
        std::fs::write(&path, "{\"tokens\": ").unwrap();
        let refused = LocalTokenStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("is unreadable"), "{refused}");

        let mut doc = Document::default();
        doc.tokens.insert("x".into(), token("y", 1));
        std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        let refused = LocalTokenStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("under the key 'x'"), "{refused}");
    }
}
