//! The in-memory state the log replays into, and its snapshot.

use std::collections::{BTreeSet, HashMap};

use super::codec::Mutation;
use crate::error::{Result, StorageError};
use crate::offsets::{CommittedOffset, OffsetEntry, PendingOffsets};

type Partition = (String, i32);

/// An offset and the order of the mutation that recorded it. Kafka keeps
/// the newest of a transaction's offset and a plain commit made while the
/// transaction was open (by their offsets in `__consumer_offsets`); the
/// order plays that part here, and the snapshot keeps it.
#[derive(Debug, Clone)]
struct Recorded {
    committed: CommittedOffset,
    order: u64,
}

/// One producer's open transaction in a group.
#[derive(Debug)]
struct PendingTxn {
    producer_epoch: i16,
    offsets: HashMap<Partition, Recorded>,
}

/// Committed and pending offsets and group metadata. Invariant: no group
/// maps to an empty offset map and no transaction holds no offsets (what
/// has nothing left is removed).
#[derive(Debug, Default)]
pub(crate) struct State {
    offsets: HashMap<String, HashMap<Partition, Recorded>>,
    /// Group → producer id → its transaction's offsets.
    pending: HashMap<String, HashMap<i64, PendingTxn>>,
    metadata: HashMap<String, Vec<u8>>,
    /// The version of each group's metadata that was ever set, cleared or
    /// deleted; kept after a clear, so a writer that read the state before
    /// it cannot mistake a later absence for the one it saw.
    metadata_versions: HashMap<String, u64>,
    /// The last version handed out (versions grow across the whole store).
    last_version: u64,
    /// The order of the last mutation that recorded offsets.
    last_order: u64,
}

/// An offset for the snapshot: (order, group, producer id and epoch for a
/// pending one, the offset).
type InOrder<'a> = (u64, &'a String, Option<(i64, i16)>, OffsetEntry);

fn recorded_entry((topic, partition): &Partition, recorded: &Recorded) -> OffsetEntry {
    OffsetEntry {
        topic: topic.clone(),
        partition: *partition,
        committed: recorded.committed.clone(),
    }
}

impl State {
    /// Why the mutation may not be applied: a transaction's offsets or
    /// outcome from an older epoch than the producer's pending offsets
    /// (a zombie), as Kafka's log refuses a batch or marker from an old
    /// epoch.
    pub(crate) fn refuses(&self, mutation: &Mutation) -> Result<()> {
        let (group, producer_id, producer_epoch) = match mutation {
            Mutation::PendingCommit {
                group,
                producer_id,
                producer_epoch,
                ..
            }
            | Mutation::EndTransaction {
                group,
                producer_id,
                producer_epoch,
                ..
            } => (group, *producer_id, *producer_epoch),
            _ => return Ok(()),
        };
        match self.pending_txn(group, producer_id) {
            Some(txn) if txn.producer_epoch > producer_epoch => {
                Err(StorageError::InvalidProducerEpoch(format!(
                    "producer {producer_id} has offsets pending in group {group} at epoch {}, \
                     newer than {producer_epoch}",
                    txn.producer_epoch
                )))
            }
            _ => Ok(()),
        }
    }

    /// Whether applying the mutation would change anything (no-ops are not
    /// logged).
    pub(crate) fn changes(&self, mutation: &Mutation) -> bool {
        match mutation {
            Mutation::Commit { offsets, .. } | Mutation::PendingCommit { offsets, .. } => {
                !offsets.is_empty()
            }
            Mutation::EndTransaction {
                group, producer_id, ..
            } => self.pending_txn(group, *producer_id).is_some(),
            Mutation::DeleteOffsets { group, partitions } => partitions
                .iter()
                .any(|(t, p)| self.holds(group, |(topic, partition)| topic == t && partition == p)),
            Mutation::DeleteGroup { group } => {
                self.offsets.contains_key(group)
                    || self.pending.contains_key(group)
                    || self.metadata.contains_key(group)
            }
            Mutation::DeleteTopic { topic } => self
                .offsets
                .keys()
                .chain(self.pending.keys())
                .any(|group| self.holds(group, |(t, _)| t == topic)),
            Mutation::SetMetadata { group, metadata } => self.metadata.get(group) != Some(metadata),
            Mutation::ClearMetadata { group } => self.metadata.contains_key(group),
        }
    }

    /// Whether the group has a committed or pending offset for a partition
    /// that `wanted` picks.
    fn holds(&self, group: &str, wanted: impl Fn(&Partition) -> bool) -> bool {
        let committed = self
            .offsets
            .get(group)
            .is_some_and(|stored| stored.keys().any(&wanted));
        committed
            || self
                .pending
                .get(group)
                .is_some_and(|txns| txns.values().any(|txn| txn.offsets.keys().any(&wanted)))
    }

    fn pending_txn(&self, group: &str, producer_id: i64) -> Option<&PendingTxn> {
        self.pending.get(group)?.get(&producer_id)
    }

    pub(crate) fn apply(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::Commit { group, offsets } => {
                if offsets.is_empty() {
                    return;
                }
                let order = self.next_order();
                let stored = self.offsets.entry(group).or_default();
                for entry in offsets {
                    let recorded = Recorded {
                        committed: entry.committed,
                        order,
                    };
                    stored.insert((entry.topic, entry.partition), recorded);
                }
            }
            Mutation::PendingCommit {
                group,
                producer_id,
                producer_epoch,
                offsets,
            } => {
                if offsets.is_empty() {
                    return;
                }
                let order = self.next_order();
                let txn = self
                    .pending
                    .entry(group)
                    .or_default()
                    .entry(producer_id)
                    .or_insert_with(|| PendingTxn {
                        producer_epoch,
                        offsets: HashMap::new(),
                    });
                txn.producer_epoch = txn.producer_epoch.max(producer_epoch);
                for entry in offsets {
                    let recorded = Recorded {
                        committed: entry.committed,
                        order,
                    };
                    txn.offsets.insert((entry.topic, entry.partition), recorded);
                }
            }
            Mutation::EndTransaction {
                group,
                producer_id,
                commit,
                ..
            } => {
                let Some(txns) = self.pending.get_mut(&group) else {
                    return;
                };
                let Some(txn) = txns.remove(&producer_id) else {
                    return;
                };
                if txns.is_empty() {
                    self.pending.remove(&group);
                }
                if commit {
                    let stored = self.offsets.entry(group).or_default();
                    for (partition, recorded) in txn.offsets {
                        let newer = stored
                            .get(&partition)
                            .is_none_or(|current| recorded.order > current.order);
                        if newer {
                            stored.insert(partition, recorded);
                        }
                    }
                }
            }
            Mutation::DeleteOffsets { group, partitions } => {
                if let Some(stored) = self.offsets.get_mut(&group) {
                    for key in &partitions {
                        stored.remove(key);
                    }
                    if stored.is_empty() {
                        self.offsets.remove(&group);
                    }
                }
                self.retain_pending(Some(&group), |partition| !partitions.contains(partition));
            }
            Mutation::DeleteGroup { group } => {
                self.offsets.remove(&group);
                self.pending.remove(&group);
                if self.metadata.remove(&group).is_some() {
                    self.bump_version(group);
                }
            }
            Mutation::DeleteTopic { topic } => {
                self.offsets.retain(|_, stored| {
                    stored.retain(|(t, _), _| *t != topic);
                    !stored.is_empty()
                });
                self.retain_pending(None, |(t, _)| *t != topic);
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

    /// Keeps the pending offsets (of one group, or of all) whose partition
    /// `keep` accepts, dropping what is left empty.
    fn retain_pending(&mut self, group: Option<&str>, keep: impl Fn(&Partition) -> bool) {
        self.pending.retain(|g, txns| {
            if group.is_some_and(|only| only != g) {
                return true;
            }
            txns.retain(|_, txn| {
                txn.offsets.retain(|partition, _| keep(partition));
                !txn.offsets.is_empty()
            });
            !txns.is_empty()
        });
    }

    fn next_order(&mut self) -> u64 {
        self.last_order += 1;
        self.last_order
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
            .map(|recorded| recorded.committed.clone())
    }

    /// The group's offsets, ordered by topic and partition.
    pub(crate) fn group_offsets(&self, group: &str) -> Vec<OffsetEntry> {
        let Some(stored) = self.offsets.get(group) else {
            return Vec::new();
        };
        sorted(stored)
    }

    /// The group's pending offsets, by producer id, each ordered by topic
    /// and partition.
    pub(crate) fn pending_offsets(&self, group: &str) -> Vec<PendingOffsets> {
        let Some(txns) = self.pending.get(group) else {
            return Vec::new();
        };
        let mut all: Vec<PendingOffsets> = txns
            .iter()
            .map(|(producer_id, txn)| PendingOffsets {
                producer_id: *producer_id,
                producer_epoch: txn.producer_epoch,
                offsets: sorted(&txn.offsets),
            })
            .collect();
        all.sort_by_key(|p| p.producer_id);
        all
    }

    /// Groups with offsets (committed or pending) or metadata, sorted.
    pub(crate) fn groups(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .offsets
            .keys()
            .chain(self.pending.keys())
            .chain(self.metadata.keys())
            .collect();
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

    /// Mutations that rebuild this state from nothing: the offsets in the
    /// order they were recorded (consecutive ones of one group and producer
    /// in one mutation), so a replay decides between a transaction's
    /// offsets and a later commit as the original did; then one
    /// set-metadata per group with metadata.
    pub(crate) fn snapshot(&self) -> Vec<Mutation> {
        let mut recorded: Vec<InOrder<'_>> = Vec::new();
        for (group, stored) in &self.offsets {
            for (partition, r) in stored {
                recorded.push((r.order, group, None, recorded_entry(partition, r)));
            }
        }
        for (group, txns) in &self.pending {
            for (producer_id, txn) in txns {
                let producer = Some((*producer_id, txn.producer_epoch));
                for (partition, r) in &txn.offsets {
                    recorded.push((r.order, group, producer, recorded_entry(partition, r)));
                }
            }
        }
        recorded.sort_by(|a, b| {
            (a.0, a.1, a.2, &a.3.topic, a.3.partition).cmp(&(
                b.0,
                b.1,
                b.2,
                &b.3.topic,
                b.3.partition,
            ))
        });
        let mut out: Vec<Mutation> = Vec::new();
        for (_, group, producer, entry) in recorded {
            match (out.last_mut(), producer) {
                (Some(Mutation::Commit { group: g, offsets }), None) if g == group => {
                    offsets.push(entry)
                }
                (
                    Some(Mutation::PendingCommit {
                        group: g,
                        producer_id,
                        offsets,
                        ..
                    }),
                    Some((id, _)),
                ) if g == group && *producer_id == id => offsets.push(entry),
                (_, None) => out.push(Mutation::Commit {
                    group: group.clone(),
                    offsets: vec![entry],
                }),
                (_, Some((producer_id, producer_epoch))) => out.push(Mutation::PendingCommit {
                    group: group.clone(),
                    producer_id,
                    producer_epoch,
                    offsets: vec![entry],
                }),
            }
        }
        for (group, metadata) in self.group_metadata() {
            out.push(Mutation::SetMetadata { group, metadata });
        }
        out
    }
}

fn sorted(offsets: &HashMap<Partition, Recorded>) -> Vec<OffsetEntry> {
    let mut entries: Vec<OffsetEntry> = offsets
        .iter()
        .map(|(partition, r)| recorded_entry(partition, r))
        .collect();
    entries.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    entries
}
