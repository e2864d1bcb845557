//! An in-memory OffsetStore: unit tests, and a stand-in where no durable
//! store is configured.

use std::collections::BTreeMap;

use async_trait::async_trait;
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore};
use parking_lot::Mutex;

/// Group → (topic, partition) → committed offset.
type Offsets = BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>;

#[derive(Default)]
pub struct MemoryOffsetStore {
    offsets: Mutex<Offsets>,
    metadata: Mutex<Metadata>,
}

/// Group state blobs and their versions (kept after a clear, as the local
/// store keeps them).
#[derive(Default)]
struct Metadata {
    blobs: BTreeMap<String, Vec<u8>>,
    versions: BTreeMap<String, u64>,
    last_version: u64,
}

impl Metadata {
    fn bump(&mut self, group: &str) -> u64 {
        self.last_version += 1;
        self.versions.insert(group.to_string(), self.last_version);
        self.last_version
    }
}

#[async_trait]
impl OffsetStore for MemoryOffsetStore {
    async fn commit(&self, group: &str, offsets: Vec<OffsetEntry>) -> fjord_storage::Result<()> {
        let mut all = self.offsets.lock();
        let entry = all.entry(group.to_string()).or_default();
        for o in offsets {
            entry.insert((o.topic, o.partition), o.committed);
        }
        Ok(())
    }

    fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.offsets
            .lock()
            .get(group)?
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    fn group_offsets(&self, group: &str) -> Vec<OffsetEntry> {
        self.offsets
            .lock()
            .get(group)
            .map(|m| {
                m.iter()
                    .map(|((topic, partition), c)| OffsetEntry {
                        topic: topic.clone(),
                        partition: *partition,
                        committed: c.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.offsets.lock().keys().cloned().collect();
        groups.extend(self.metadata.lock().blobs.keys().cloned());
        groups.sort();
        groups.dedup();
        groups
    }

    async fn delete_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> fjord_storage::Result<()> {
        let mut all = self.offsets.lock();
        if let Some(m) = all.get_mut(group) {
            for p in partitions {
                m.remove(p);
            }
            if m.is_empty() {
                all.remove(group);
            }
        }
        Ok(())
    }

    async fn delete_group(&self, group: &str) -> fjord_storage::Result<()> {
        self.offsets.lock().remove(group);
        let mut metadata = self.metadata.lock();
        if metadata.blobs.remove(group).is_some() {
            metadata.bump(group);
        }
        Ok(())
    }

    async fn delete_topic(&self, topic: &str) -> fjord_storage::Result<()> {
        for m in self.offsets.lock().values_mut() {
            m.retain(|(t, _), _| t != topic);
        }
        Ok(())
    }

    async fn store_group_metadata(
        &self,
        group: &str,
        metadata: Option<Vec<u8>>,
        expected: u64,
    ) -> fjord_storage::Result<u64> {
        let mut all = self.metadata.lock();
        let actual = all.versions.get(group).copied().unwrap_or(0);
        if actual != expected {
            return Err(fjord_storage::StorageError::StaleGroupState {
                group: group.to_string(),
                expected,
                actual,
            });
        }
        if all.blobs.get(group) == metadata.as_ref() {
            return Ok(actual);
        }
        match metadata {
            Some(m) => all.blobs.insert(group.to_string(), m),
            None => all.blobs.remove(group),
        };
        Ok(all.bump(group))
    }

    fn group_state_version(&self, group: &str) -> u64 {
        self.metadata
            .lock()
            .versions
            .get(group)
            .copied()
            .unwrap_or(0)
    }

    fn group_metadata(&self) -> Vec<(String, Vec<u8>)> {
        self.metadata
            .lock()
            .blobs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
