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
    metadata: Mutex<BTreeMap<String, Vec<u8>>>,
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
        groups.extend(self.metadata.lock().keys().cloned());
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
        self.metadata.lock().remove(group);
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
    ) -> fjord_storage::Result<()> {
        let mut all = self.metadata.lock();
        match metadata {
            Some(m) => all.insert(group.to_string(), m),
            None => all.remove(group),
        };
        Ok(())
    }

    fn group_metadata(&self) -> Vec<(String, Vec<u8>)> {
        self.metadata
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
