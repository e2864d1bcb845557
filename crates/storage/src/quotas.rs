//! Client quotas' durable state: for each quota entity (a user, a client
//! id, both, or an IP address, any of them possibly the default), the
//! quota values set on it, as Kafka's `QuotaRecord`s leave them.
//!
//! The local engine keeps them in one JSON document, `fjord-quotas.json`
//! in the data dir, replaced atomically as the other metadata files are
//! (temp file, fsync, rename, fsync of the directory), so a change the
//! store acknowledges survives a crash. The document carries a format
//! version so that a later layout is recognised rather than misread.
//! What the entity types and keys mean is the broker's business.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::json_document::{check_format_version, JsonDocument};
use crate::Result;

pub const QUOTAS_FILE: &str = "fjord-quotas.json";

/// The layout this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// An entity: entity type (`user`, `client-id`, `ip`) to name, `None`
/// being the type's default entity.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// An entity's quota values by key.
pub type QuotaValues = BTreeMap<String, f64>;

/// Every entity with at least one quota, and its values.
pub type StoredQuotas = BTreeMap<QuotaEntity, QuotaValues>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    format_version: u32,
    #[serde(with = "entries")]
    entries: StoredQuotas,
}

impl Default for Document {
    fn default() -> Self {
        Document {
            format_version: FORMAT_VERSION,
            entries: StoredQuotas::new(),
        }
    }
}

pub struct FileQuotaStore {
    document: JsonDocument<Document>,
}

impl FileQuotaStore {
    /// Opens the store in `data_dir` (empty when the file does not exist).
    /// A file that cannot be read stops start-up: starting without it would
    /// lift every limit it sets.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let document = JsonDocument::open(
            data_dir,
            QUOTAS_FILE,
            "the client quota file",
            |doc: &Document| check_format_version(doc.format_version, FORMAT_VERSION),
        )?;
        Ok(FileQuotaStore { document })
    }

    /// Every entity's quotas.
    pub fn quotas(&self) -> StoredQuotas {
        self.document.get().entries
    }

    /// Applies `change` to a copy of the quotas and stores the result
    /// durably before `quotas` returns it; if writing fails, nothing
    /// changes. Entities left without a value are dropped. Returns what
    /// `change` returned, with the quotas as stored.
    pub async fn update<T>(
        &self,
        change: impl FnOnce(&mut StoredQuotas) -> T,
    ) -> Result<(T, StoredQuotas)> {
        let (outcome, doc) = self
            .document
            .update(|doc| {
                let outcome = change(&mut doc.entries);
                doc.entries.retain(|_, values| !values.is_empty());
                outcome
            })
            .await?;
        Ok((outcome, doc.entries))
    }
}

/// JSON objects need string keys, so entities are stored as a list of
/// `{"entity": {...}, "values": {...}}`.
mod entries {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Entry {
        entity: QuotaEntity,
        values: QuotaValues,
    }

    pub fn serialize<S: Serializer>(
        quotas: &StoredQuotas,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let list: Vec<Entry> = quotas
            .iter()
            .map(|(entity, values)| Entry {
                entity: entity.clone(),
                values: values.clone(),
            })
            .collect();
        list.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<StoredQuotas, D::Error> {
        let list = Vec::<Entry>::deserialize(deserializer)?;
        Ok(list.into_iter().map(|e| (e.entity, e.values)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(pairs: &[(&str, Option<&str>)]) -> QuotaEntity {
        pairs
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    #[tokio::test]
    async fn quotas_survive_reopening_and_empty_entities_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileQuotaStore::open(dir.path()).unwrap();
        assert!(store.quotas().is_empty());
        let alice = entity(&[("user", Some("alice")), ("client-id", None)]);
        let default_ip = entity(&[("ip", None)]);
        store
            .update(|q| {
                q.entry(alice.clone())
                    .or_default()
                    .insert("producer_byte_rate".into(), 1024.0);
                q.entry(default_ip.clone())
                    .or_default()
                    .insert("connection_creation_rate".into(), 5.0);
            })
            .await
            .unwrap();
        store
            .update(|q| q.get_mut(&default_ip).map(|v| v.clear()))
            .await
            .unwrap();
        drop(store);
        let reopened = FileQuotaStore::open(dir.path()).unwrap();
        let quotas = reopened.quotas();
        assert_eq!(quotas.len(), 1);
        assert_eq!(quotas[&alice]["producer_byte_rate"], 1024.0);
        let file = std::fs::read_to_string(dir.path().join(QUOTAS_FILE)).unwrap();
        assert!(file.contains("\"client-id\": null"), "{file}");
    }

    #[test]
    fn a_damaged_or_newer_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(QUOTAS_FILE);
        std::fs::write(&path, "{\"format_version\": 1, \"entries\": [").unwrap();
        let refused = FileQuotaStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("is unreadable"), "{refused}");
        std::fs::write(&path, "{\"format_version\": 2, \"entries\": []}").unwrap();
        let refused = FileQuotaStore::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("format version 2"), "{refused}");
    }
}
