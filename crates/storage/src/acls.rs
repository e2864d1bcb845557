//! The ACL store: every access control binding the broker enforces, kept in
//! one JSON document, `fjord-acls.json` in the data dir, replaced atomically
//! (write temp, fsync, rename, fsync dir) as the metadata store is. ACLs
//! change rarely and are few next to topics' data, so a whole rewrite per
//! change is cheap, and a change the store acknowledges survives a crash.
//!
//! The store keeps bindings as Kafka's wire codes; what they mean (and which
//! are valid) is the broker's business.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::json_document::JsonDocument;
use crate::Result;

/// One ACL binding: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StoredAcl {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Document {
    acls: Vec<StoredAcl>,
}

pub const ACLS_FILE: &str = "fjord-acls.json";

pub struct FileAclStore {
    document: JsonDocument<Document>,
}

impl FileAclStore {
    /// Opens the store in `data_dir` (empty when the file does not exist).
    /// A file that cannot be read is refused: starting without its ACLs
    /// would open (or close) the broker to everyone it names.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let document = JsonDocument::open(data_dir, ACLS_FILE, "the ACL file", |_| Ok(()))?;
        Ok(FileAclStore { document })
    }

    /// Every binding stored, in the order stored.
    pub fn acls(&self) -> Vec<StoredAcl> {
        self.document.get().acls
    }

    /// Applies `change` to a copy of the bindings and stores the result
    /// durably before it becomes what `acls` returns; if writing fails,
    /// nothing changes. Returns what `change` returned, with the bindings
    /// as stored.
    pub async fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<StoredAcl>) -> T,
    ) -> Result<(T, Vec<StoredAcl>)> {
        let (outcome, doc) = self.document.update(|doc| change(&mut doc.acls)).await?;
        Ok((outcome, doc.acls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(name: &str) -> StoredAcl {
        StoredAcl {
            resource_type: 2,
            resource_name: name.to_string(),
            pattern_type: 3,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: 3,
            permission_type: 3,
        }
    }

    #[tokio::test]
    async fn bindings_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileAclStore::open(dir.path()).unwrap();
        assert!(store.acls().is_empty());
        store.update(|acls| acls.push(acl("a"))).await.unwrap();
        store.update(|acls| acls.push(acl("b"))).await.unwrap();
        store
            .update(|acls| acls.retain(|a| a.resource_name != "a"))
            .await
            .unwrap();
        let reopened = FileAclStore::open(dir.path()).unwrap();
        assert_eq!(reopened.acls(), vec![acl("b")]);
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ACLS_FILE), b"{not json").unwrap();
        let err = FileAclStore::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("refusing to start"), "{err}");
    }
}
