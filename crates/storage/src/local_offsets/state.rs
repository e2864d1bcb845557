//! The in-memory state the log replays into, and its snapshot.

use std::collections::{BTreeSet, HashMap};

use super::codec::Mutation;
use crate::offsets::{CommittedOffset, OffsetEntry};

/// Committed offsets and group metadata. Invariant: no group maps to an
/// empty offset map (a group with nothing left is removed).
#[derive(Debug, Default)]
pub(crate) struct State {
    offsets: HashMap<String, HashMap<(String, i32), CommittedOffset>>,
    metadata: HashMap<String, Vec<u8>>,
    /// The version of each group's metadata that was ever set, cleared or
    /// deleted; kept after a clear, so a writer that read the state before
    /// it cannot mistake a later absence for the one it saw.
    metadata_versions: HashMap<String, u64>,
    /// The last version handed out (versions grow across the whole store).
    last_version: u64,
}

impl State {
    /// Whether applying the mutation would change anything (no-ops are not
    /// logged).
    pub(crate) fn changes(&self, mutation: &Mutation) -> bool {
        match mutation {
            Mutation::Commit { offsets, .. } => !offsets.is_empty(),
            Mutation::DeleteOffsets { group, partitions } => {
                self.offsets.get(group).is_some_and(|offsets| {
                    partitions
                        .iter()
                        .any(|(t, p)| offsets.contains_key(&(t.clone(), *p)))
                })
            }
            Mutation::DeleteGroup { group } => {
                self.offsets.contains_key(group) || self.metadata.contains_key(group)
            }
            Mutation::DeleteTopic { topic } => self
                .offsets
                .values()
                .any(|offsets| offsets.keys().any(|(t, _)| t == topic)),
            Mutation::SetMetadata { group, metadata } => self.metadata.get(group) != Some(metadata),
            Mutation::ClearMetadata { group } => self.metadata.contains_key(group),
        }
    }

    pub(crate) fn apply(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::Commit { group, offsets } => {
                if offsets.is_empty() {
                    return;
                }
                let stored = self.offsets.entry(group).or_default();
                for entry in offsets {
                    stored.insert((entry.topic, entry.partition), entry.committed);
                }
            }
            Mutation::DeleteOffsets { group, partitions } => {
                if let Some(stored) = self.offsets.get_mut(&group) {
                    for key in partitions {
                        stored.remove(&key);
                    }
                    if stored.is_empty() {
                        self.offsets.remove(&group);
                    }
                }
            }
            Mutation::DeleteGroup { group } => {
                self.offsets.remove(&group);
                if self.metadata.remove(&group).is_some() {
                    self.bump_version(group);
                }
            }
            Mutation::DeleteTopic { topic } => {
                self.offsets.retain(|_, stored| {
                    stored.retain(|(t, _), _| *t != topic);
                    !stored.is_empty()
                });
            }
            Mutation::SetMetadata { group, metadata } => {
                self.metadata.insert(group.clone(), metadata);
                self.bump_version(group);
            }
            Mutation::ClearMetadata { group } => {
                self.metadata.remove(&group);
                self.bump_version(group);
            }
        }
    }

    fn bump_version(&mut self, group: String) {
        self.last_version += 1;
        self.metadata_versions.insert(group, self.last_version);
    }

    /// The version of a group's metadata; 0 if it was never stored.
    pub(crate) fn metadata_version(&self, group: &str) -> u64 {
        self.metadata_versions.get(group).copied().unwrap_or(0)
    }

    pub(crate) fn fetch(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Option<CommittedOffset> {
        self.offsets
            .get(group)?
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// The group's offsets, ordered by topic and partition.
    pub(crate) fn group_offsets(&self, group: &str) -> Vec<OffsetEntry> {
        let Some(stored) = self.offsets.get(group) else {
            return Vec::new();
        };
        let mut entries: Vec<OffsetEntry> = stored
            .iter()
            .map(|((topic, partition), committed)| OffsetEntry {
                topic: topic.clone(),
                partition: *partition,
                committed: committed.clone(),
            })
            .collect();
        entries.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        entries
    }

    /// Groups with offsets or metadata, sorted.
    pub(crate) fn groups(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self.offsets.keys().chain(self.metadata.keys()).collect();
        names.into_iter().cloned().collect()
    }

    /// Every group's metadata, sorted by group.
    pub(crate) fn group_metadata(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = self
            .metadata
            .iter()
            .map(|(g, m)| (g.clone(), m.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Mutations that rebuild this state from nothing: one commit per group
    /// with offsets and one set-metadata per group with metadata.
    pub(crate) fn snapshot(&self) -> Vec<Mutation> {
        let mut out = Vec::with_capacity(self.offsets.len() + self.metadata.len());
        for group in self.offsets.keys() {
            out.push(Mutation::Commit {
                group: group.clone(),
                offsets: self.group_offsets(group),
            });
        }
        for (group, metadata) in self.group_metadata() {
            out.push(Mutation::SetMetadata { group, metadata });
        }
        out
    }
}
