//! Idempotent producers' state in one partition, as Kafka's
//! ProducerStateManager keeps it: per producer id its epoch and the last
//! five batches it wrote (sequences and offsets), so that a retried batch is
//! recognised and answered with the offsets it got the first time.
//!
//! The rules (Kafka's ProducerAppendInfo):
//! - a batch equal in epoch and sequence range to one of the last five is a
//!   duplicate: nothing is written, the original offsets are answered;
//! - an epoch older than the producer's is INVALID_PRODUCER_EPOCH;
//! - a newer epoch must start at sequence 0, and in the same epoch the
//!   batch must follow the last one (after `i32::MAX` comes 0): otherwise
//!   OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer the partition does not know (new, or expired after
//!   `producer.id.expiration.ms` without writing) may start at any sequence.
//!
//! Transactions (Kafka's ProducerStateManager again): a transactional batch
//! opens a transaction for its producer at its first offset unless one is
//! open; the producer's transaction marker closes it. A marker's epoch
//! becomes the producer's (older data batches are then fenced), and a
//! marker older in producer epoch or coordinator epoch than what the
//! partition knows is refused. A producer with an open transaction never
//! expires, and the first offset of the oldest open transaction bounds the
//! last stable offset.
//!
//! The state is rebuilt from the batch headers in the log when the log is
//! first used (see `Log`), so that it survives restarts and crashes; a
//! producer whose batches retention deleted is forgotten, as a rebuild
//! would forget it, unless its transaction is still open.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::batch::HeaderInfo;
use crate::error::{Result, StorageError};
use crate::log::marker::TxnMarker;

/// Batches remembered per producer: a producer has at most five requests in
/// flight per partition with idempotence on, so a retry is one of these.
pub const BATCHES_KEPT: usize = 5;

/// How often idle producers are swept out (each lookup also ignores an
/// expired producer, so this only bounds memory).
const SWEEP_INTERVAL_MS: i64 = 60_000;

/// One batch a producer wrote, as remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp (the broker's time for LogAppendTime).
    pub timestamp: i64,
}

/// What a partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first, at most `BATCHES_KEPT`, all of `epoch`.
    batches: VecDeque<BatchMetadata>,
    /// The last batch's timestamp: expiry counts from it, as in Kafka.
    last_timestamp: i64,
    /// The coordinator epoch of the last marker written (-1: none); an
    /// older one is a coordinator that lost its role.
    coordinator_epoch: i32,
    /// The first offset of the producer's open transaction.
    txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    fn duplicate_of(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }

    fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: i64::MIN,
            coordinator_epoch: -1,
            txn_first_offset: None,
        }
    }

    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    fn add(&mut self, epoch: i16, batch: BatchMetadata, transactional: bool) {
        self.set_epoch(epoch);
        if self.batches.len() == BATCHES_KEPT {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
        if transactional && self.txn_first_offset.is_none() {
            self.txn_first_offset = Some(batch.first_offset);
        }
    }

    /// A marker ends the open transaction (if any) at `epoch`.
    fn end_transaction(&mut self, epoch: i16, coordinator_epoch: Option<i32>, timestamp: i64) {
        self.set_epoch(epoch);
        if let Some(coordinator_epoch) = coordinator_epoch {
            self.coordinator_epoch = coordinator_epoch;
        }
        self.txn_first_offset = None;
        self.last_timestamp = timestamp;
    }
}

/// The sequence of a batch's last record: sequences wrap from `i32::MAX` to 0.
pub fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence > i32::MAX - last_offset_delta {
        last_offset_delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + last_offset_delta
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// An idempotent data batch's producer fields and assigned offsets.
fn producer_batch(header: &HeaderInfo) -> Option<(i64, i16, BatchMetadata)> {
    if header.producer_id < 0 || header.is_control {
        return None;
    }
    let delta = i32::try_from(header.last_offset - header.base_offset).unwrap_or(i32::MAX);
    Some((
        header.producer_id,
        header.producer_epoch,
        BatchMetadata {
            first_seq: header.base_sequence,
            last_seq: last_sequence(header.base_sequence, delta),
            first_offset: header.base_offset,
            last_offset: header.last_offset,
            timestamp: header.max_timestamp,
        },
    ))
}

/// What checking an append against the producers found.
#[derive(Debug)]
pub enum Checked {
    /// New batches: the entries to keep once they are stored.
    Fresh(Staged),
    /// A retry of a batch already in the log: write nothing, answer this.
    Duplicate(BatchMetadata),
}

/// Producer entries updated by an append, applied once it is stored.
#[derive(Debug, Default)]
pub struct Staged {
    entries: Vec<(i64, ProducerEntry)>,
}

/// A transaction a marker ended, as appending the marker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    /// The transaction's first offset in this partition (the marker's own
    /// offset when no batch of it is known here).
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// The last stable offset once this transaction is decided: the first
    /// offset of the oldest transaction still open, or the offset after the
    /// marker (Kafka's txnindex keeps it to bound the aborted-list search).
    pub last_stable_offset: i64,
}

/// The producers of one partition.
#[derive(Debug)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// `producer.id.expiration.ms`
    expiration_ms: i64,
    last_sweep_ms: i64,
    /// The log start offset `truncate_head` last applied.
    log_start_offset: i64,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerStates {
    pub fn new(expiration_ms: i64) -> ProducerStates {
        ProducerStates {
            producers: HashMap::new(),
            expiration_ms,
            last_sweep_ms: 0,
            log_start_offset: 0,
            ongoing: BTreeMap::new(),
        }
    }

    /// The first offset of the oldest open transaction: nothing from it on
    /// is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Keeps `entry` for `producer_id`, keeping the open transactions in step.
    fn put(&mut self, producer_id: i64, entry: ProducerEntry) {
        let opened = entry.txn_first_offset;
        if let Some(old) = self.producers.insert(producer_id, entry) {
            if let Some(first) = old.txn_first_offset {
                if Some(first) != opened {
                    self.ongoing.remove(&first);
                }
            }
        }
        if let Some(first) = opened {
            self.ongoing.insert(first, producer_id);
        }
    }

    pub fn set_expiration_ms(&mut self, expiration_ms: i64) {
        self.expiration_ms = expiration_ms;
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    fn is_expired(&self, entry: &ProducerEntry, now: i64) -> bool {
        entry.txn_first_offset.is_none()
            && now.saturating_sub(entry.last_timestamp) >= self.expiration_ms
    }

    /// The producer's entry, unless it expired.
    fn live(&self, producer_id: i64, now: i64) -> Option<&ProducerEntry> {
        self.producers
            .get(&producer_id)
            .filter(|entry| !self.is_expired(entry, now))
    }

    /// Checks the batches of one append (headers with their offsets
    /// assigned) in order, without changing anything.
    pub fn check(&self, headers: &[HeaderInfo], now: i64) -> Result<Checked> {
        let mut staged: Vec<(i64, ProducerEntry)> = Vec::new();
        for header in headers {
            let Some((producer_id, epoch, batch)) = producer_batch(header) else {
                continue;
            };
            let earlier = staged
                .iter()
                .rposition(|(id, _)| *id == producer_id)
                .map(|at| staged[at].1.clone());
            let current = earlier.or_else(|| self.live(producer_id, now).cloned());
            let Some(mut entry) = current else {
                // Unknown here: any sequence starts it (Kafka's rule since KIP-360).
                let mut entry = ProducerEntry::new(epoch);
                entry.add(epoch, batch, header.is_transactional);
                staged.push((producer_id, entry));
                continue;
            };
            if let Some(original) = entry.duplicate_of(epoch, batch.first_seq, batch.last_seq) {
                return Ok(Checked::Duplicate(original));
            }
            check_sequence(producer_id, &entry, epoch, batch.first_seq)?;
            if entry.txn_first_offset.is_some() && !header.is_transactional {
                return Err(StorageError::InvalidTxnState(format!(
                    "producer {producer_id} wrote a non-transactional batch while its transaction is open"
                )));
            }
            entry.add(epoch, batch, header.is_transactional);
            staged.push((producer_id, entry));
        }
        Ok(Checked::Fresh(Staged { entries: staged }))
    }

    /// Keeps what `check` staged, once the batches are stored.
    pub fn apply(&mut self, staged: Staged, now: i64) {
        for (producer_id, entry) in staged.entries {
            self.put(producer_id, entry);
        }
        if now.saturating_sub(self.last_sweep_ms) >= SWEEP_INTERVAL_MS {
            self.last_sweep_ms = now;
            let expiration_ms = self.expiration_ms;
            // Producers with an open transaction stay (see `is_expired`).
            self.producers.retain(|_, entry| {
                entry.txn_first_offset.is_some()
                    || now.saturating_sub(entry.last_timestamp) < expiration_ms
            });
        }
    }

    /// The first offset of a transaction `staged` opens, if it opens one:
    /// the last stable offset must stay below it from before the batches
    /// become readable.
    pub fn first_opened(&self, staged: &Staged) -> Option<i64> {
        staged
            .entries
            .iter()
            .filter_map(|(producer_id, entry)| {
                let first = entry.txn_first_offset?;
                let known = self
                    .producers
                    .get(producer_id)
                    .and_then(|known| known.txn_first_offset);
                (known != Some(first)).then_some(first)
            })
            .min()
    }

    /// Checks a transaction marker to be stored at `offset` against the
    /// producer's state (Kafka's `appendEndTxnMarker`): a marker from an
    /// older producer epoch is INVALID_PRODUCER_EPOCH, one from an older
    /// coordinator epoch TRANSACTION_COORDINATOR_FENCED. Changes nothing;
    /// returns the transaction it ends, if one is open here (a marker of a
    /// transaction without data here decides nothing a reader sees, and
    /// Kafka indexes no such abort).
    pub fn check_marker(
        &self,
        marker: &TxnMarker,
        offset: i64,
        now: i64,
    ) -> Result<Option<CompletedTxn>> {
        let Some(entry) = self.live(marker.producer_id, now) else {
            return Ok(None);
        };
        if marker.producer_epoch < entry.epoch {
            return Err(StorageError::InvalidProducerEpoch(format!(
                "transaction marker for producer {} at epoch {}, older than its epoch {}",
                marker.producer_id, marker.producer_epoch, entry.epoch
            )));
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(StorageError::TransactionCoordinatorFenced(format!(
                "transaction marker for producer {} from coordinator epoch {}, older than {}",
                marker.producer_id, marker.coordinator_epoch, entry.coordinator_epoch
            )));
        }
        Ok(entry.txn_first_offset.map(|first_offset| {
            let next_open = self
                .ongoing
                .iter()
                .find(|(_, producer_id)| **producer_id != marker.producer_id);
            CompletedTxn {
                producer_id: marker.producer_id,
                first_offset,
                last_offset: offset,
                aborted: !marker.commit,
                last_stable_offset: next_open.map_or(offset.saturating_add(1), |(first, _)| *first),
            }
        }))
    }

    /// Applies a marker `check_marker` accepted, once it is stored at `offset`.
    pub fn apply_marker(
        &mut self,
        marker: &TxnMarker,
        offset: i64,
        now: i64,
    ) -> Option<CompletedTxn> {
        self.end_transaction(
            marker.producer_id,
            marker.producer_epoch,
            Some(marker.coordinator_epoch),
            offset,
            !marker.commit,
            now,
        )
    }

    fn end_transaction(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: Option<i32>,
        offset: i64,
        aborted: bool,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let mut entry = self
            .producers
            .get(&producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerEntry::new(epoch));
        let first_offset = entry.txn_first_offset;
        entry.end_transaction(epoch, coordinator_epoch, timestamp);
        self.put(producer_id, entry);
        first_offset.map(|first_offset| CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            aborted,
            last_stable_offset: self
                .first_unstable_offset()
                .unwrap_or(offset.saturating_add(1)),
        })
    }

    /// Forgets producers whose last batch is below the new log start
    /// (retention or DeleteRecords removed it), as Kafka's `truncateHead`:
    /// a rebuild from the log would not find them either.
    pub fn truncate_head(&mut self, log_start_offset: i64) {
        if log_start_offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = log_start_offset;
        // An open transaction stays open until its marker, whatever was
        // deleted (Kafka bounds the last stable offset by the log start).
        self.producers.retain(|_, entry| {
            entry.txn_first_offset.is_some()
                || entry
                    .batches
                    .back()
                    .is_some_and(|last| last.last_offset >= log_start_offset)
        });
    }

    /// Replays a batch found in the log (rebuilding after a restart): the
    /// log holds only batches that passed the checks, so none are made.
    /// A marker's header does not tell commit from abort or its
    /// coordinator epoch; neither matters to the producer state rebuilt
    /// (the coordinator epoch stays the last one known).
    pub fn replay(&mut self, header: &HeaderInfo) {
        if header.is_control && header.producer_id >= 0 {
            // The engine rebuilds its own index of aborts.
            self.end_transaction(
                header.producer_id,
                header.producer_epoch,
                None,
                header.base_offset,
                false,
                header.max_timestamp,
            );
            return;
        }
        let Some((producer_id, epoch, batch)) = producer_batch(header) else {
            return;
        };
        match self.producers.get_mut(&producer_id) {
            Some(entry) => {
                let was_open = entry.txn_first_offset.is_some();
                entry.add(epoch, batch, header.is_transactional);
                // Adding a batch may open a transaction, never close one.
                if let (false, Some(first)) = (was_open, entry.txn_first_offset) {
                    self.ongoing.insert(first, producer_id);
                }
            }
            None => {
                let mut entry = ProducerEntry::new(epoch);
                entry.add(epoch, batch, header.is_transactional);
                self.put(producer_id, entry);
            }
        }
    }
}

/// Kafka's epoch and sequence rules for a batch that is not a duplicate.
fn check_sequence(
    producer_id: i64,
    entry: &ProducerEntry,
    epoch: i16,
    first_seq: i32,
) -> Result<()> {
    if epoch < entry.epoch {
        return Err(StorageError::InvalidProducerEpoch(format!(
            "producer {producer_id} sent epoch {epoch}, older than its epoch {}",
            entry.epoch
        )));
    }
    if epoch != entry.epoch {
        if first_seq != 0 {
            return Err(StorageError::OutOfOrderSequence(format!(
                "producer {producer_id} started epoch {epoch} at sequence {first_seq}, not 0"
            )));
        }
        return Ok(());
    }
    // No batch kept in this epoch: the next one must be the epoch's first.
    let last_seq = entry.last_seq().unwrap_or(-1);
    if !in_sequence(last_seq, first_seq) {
        return Err(StorageError::OutOfOrderSequence(format!(
            "producer {producer_id} (epoch {epoch}) sent sequence {first_seq} after {last_seq}"
        )));
    }
    Ok(())
}

#[path = "producers_active.rs"]
mod active;
pub use active::ActiveProducer;

#[path = "producer_snapshot.rs"]
mod snapshot;

#[cfg(test)]
#[path = "producers_tests.rs"]
mod tests;
