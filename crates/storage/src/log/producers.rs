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
//! The state is rebuilt from the batch headers in the log when the log is
//! first used (see `Log`), so that it survives restarts and crashes; a
//! producer whose batches retention deleted is forgotten, as a rebuild
//! would forget it.

use std::collections::{HashMap, VecDeque};

use crate::batch::HeaderInfo;
use crate::error::{Result, StorageError};

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

    fn add(&mut self, epoch: i16, batch: BatchMetadata) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_KEPT {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
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

/// The producers of one partition.
#[derive(Debug)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// `producer.id.expiration.ms`
    expiration_ms: i64,
    last_sweep_ms: i64,
    /// The log start offset `truncate_head` last applied.
    log_start_offset: i64,
}

impl ProducerStates {
    pub fn new(expiration_ms: i64) -> ProducerStates {
        ProducerStates {
            producers: HashMap::new(),
            expiration_ms,
            last_sweep_ms: 0,
            log_start_offset: 0,
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
        now.saturating_sub(entry.last_timestamp) >= self.expiration_ms
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
                staged.push((
                    producer_id,
                    ProducerEntry {
                        epoch,
                        batches: VecDeque::from([batch]),
                        last_timestamp: batch.timestamp,
                    },
                ));
                continue;
            };
            if let Some(original) = entry.duplicate_of(epoch, batch.first_seq, batch.last_seq) {
                return Ok(Checked::Duplicate(original));
            }
            check_sequence(producer_id, &entry, epoch, batch.first_seq)?;
            entry.add(epoch, batch);
            staged.push((producer_id, entry));
        }
        Ok(Checked::Fresh(Staged { entries: staged }))
    }

    /// Keeps what `check` staged, once the batches are stored.
    pub fn apply(&mut self, staged: Staged, now: i64) {
        for (producer_id, entry) in staged.entries {
            self.producers.insert(producer_id, entry);
        }
        if now.saturating_sub(self.last_sweep_ms) >= SWEEP_INTERVAL_MS {
            self.last_sweep_ms = now;
            let expiration_ms = self.expiration_ms;
            self.producers
                .retain(|_, entry| now.saturating_sub(entry.last_timestamp) < expiration_ms);
        }
    }

    /// Forgets producers whose last batch is below the new log start
    /// (retention or DeleteRecords removed it), as Kafka's `truncateHead`:
    /// a rebuild from the log would not find them either.
    pub fn truncate_head(&mut self, log_start_offset: i64) {
        if log_start_offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = log_start_offset;
        self.producers.retain(|_, entry| {
            entry
                .batches
                .back()
                .is_some_and(|last| last.last_offset >= log_start_offset)
        });
    }

    /// Replays a batch found in the log (rebuilding after a restart): the
    /// log holds only batches that passed the checks, so none are made.
    pub fn replay(&mut self, header: &HeaderInfo) {
        let Some((producer_id, epoch, batch)) = producer_batch(header) else {
            return;
        };
        self.producers
            .entry(producer_id)
            .and_modify(|entry| entry.add(epoch, batch))
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::from([batch]),
                last_timestamp: batch.timestamp,
            });
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

#[path = "producer_snapshot.rs"]
mod snapshot;

#[cfg(test)]
#[path = "producers_tests.rs"]
mod tests;
