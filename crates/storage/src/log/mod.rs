//! The `Log`: what a partition's log decides, above the engine that keeps it.
//!
//! As Kafka's UnifiedLog and LogValidator sit above LocalLog, the [`Log`]
//! owns everything an append decides: it validates produced batches
//! ([`validate`]), assigns their offsets and stamps their headers
//! ([`assign`]), keeps idempotent producers' state and refuses or
//! deduplicates their batches by it ([`producers`]), and orders appends to
//! one partition, so that offsets are handed out in the order batches are
//! stored. The engine below
//! ([`PartitionEngine`]) only stores batches whose offsets are assigned and
//! reads them back; a second engine (object storage, say) therefore gets
//! the same validation and offsets without repeating them.
//!
//! The producer state is snapshotted through the engine every
//! `segment.bytes` appended (between 1 and 64 MiB) and rebuilt at the first
//! append after start-up from the newest snapshot within the log and the
//! batch headers after it.
//!
//! Batches stay byte-for-byte as produced: validation reads headers and
//! checks the CRC, assignment patches header fields in place, and no
//! record is decoded.

pub mod assign;
pub mod marker;
pub mod producers;
mod stable;
pub mod validate;

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use tracing::warn;

use crate::config::TimestampType;
use crate::engine::{AbortedTxnEntry, PartitionEngine};
use crate::error::Result;
use crate::log::assign::{assign_offsets, Stamp};
use crate::log::marker::{marker_batch, TxnMarker};
use crate::log::producers::{ActiveProducer, Checked, ProducerStates};
use crate::log::validate::{validate_batches, BatchSummary};
use crate::{
    now_ms, AppendOutcome, Durability, LogConfig, LogOffsets, PartitionLog, ReadOutcome,
    RecordsRead, TimestampOffset,
};

/// One partition's log over its engine. A store keeps one `Log` per
/// partition: the append order and the producer state live in it.
pub struct Log {
    engine: Arc<dyn PartitionEngine>,
    /// Held from reading the log end offset until the engine has stored the
    /// batches given offsets from it and the producer state is updated (not
    /// while waiting for an fsync, which concurrent appends share).
    appends: tokio::sync::Mutex<AppendState>,
    leader_epoch: AtomicI32,
    /// The first offset of the oldest open transaction, for readers that
    /// take no lock (see `stable`): `stable::NO_OPEN_TXN` when there is
    /// none, `stable::UNKNOWN` until the producer state is rebuilt.
    first_unstable: AtomicI64,
}

/// What appends to one partition share.
struct AppendState {
    /// `None` until rebuilt from the log, at the first append.
    producers: Option<ProducerStates>,
    /// Bytes appended since the producer state was last snapshotted.
    unsnapshotted_bytes: u64,
}

/// Snapshot the producer state every `segment.bytes` appended (Kafka does
/// at each segment roll), within these bounds: the smallest keeps tiny test
/// segments from writing a file per append, the largest bounds the scan of
/// headers a restart does after the snapshot.
const SNAPSHOT_INTERVAL_BYTES: std::ops::RangeInclusive<u64> = (1 << 20)..=(64 << 20);

impl Log {
    pub fn new(engine: Arc<dyn PartitionEngine>) -> Log {
        Log {
            engine,
            appends: tokio::sync::Mutex::new(AppendState {
                producers: None,
                unsnapshotted_bytes: 0,
            }),
            leader_epoch: AtomicI32::new(0),
            first_unstable: AtomicI64::new(stable::UNKNOWN),
        }
    }

    /// The leader epoch stamped into appended batches (0 until told otherwise).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
    }

    /// The producer state, rebuilt the first time from the newest snapshot
    /// and the headers of the batches after it (all of them without one).
    async fn producers<'a>(
        &self,
        producers: &'a mut Option<ProducerStates>,
        config: &LogConfig,
    ) -> Result<&'a mut ProducerStates> {
        let producers = match producers.take() {
            Some(states) => producers.insert(states),
            None => {
                let rebuilt = producers.insert(self.rebuild_producers(config).await?);
                self.publish_unstable(rebuilt.first_unstable_offset());
                rebuilt
            }
        };
        producers.set_expiration_ms(config.producer_id_expiration_ms);
        Ok(producers)
    }

    async fn rebuild_producers(&self, config: &LogConfig) -> Result<ProducerStates> {
        let expiration_ms = config.producer_id_expiration_ms;
        // A snapshot only saves reading: without a usable one, the whole log.
        let (from, states) = match self.engine.read_producer_snapshot().await {
            Ok(Some((offset, bytes))) => {
                match ProducerStates::decode_snapshot(&bytes, expiration_ms) {
                    Ok(states) => (offset, states),
                    Err(err) => {
                        warn!(error = %err, offset, "producer snapshot unusable; reading the whole log");
                        (i64::MIN, ProducerStates::new(expiration_ms))
                    }
                }
            }
            Ok(None) => (i64::MIN, ProducerStates::new(expiration_ms)),
            Err(err) => {
                warn!(error = %err, "producer snapshot unreadable; reading the whole log");
                (i64::MIN, ProducerStates::new(expiration_ms))
            }
        };
        let rebuilt = Arc::new(parking_lot::Mutex::new(states));
        let sink = Arc::clone(&rebuilt);
        self.engine
            .scan_headers(from, Box::new(move |header| sink.lock().replay(header)))
            .await?;
        let mut rebuilt = rebuilt.lock();
        Ok(std::mem::replace(
            &mut *rebuilt,
            ProducerStates::new(expiration_ms),
        ))
    }

    /// What every append stamps into its batches' headers now.
    fn stamp(&self, config: &LogConfig, now: i64) -> Stamp {
        Stamp {
            partition_leader_epoch: self.leader_epoch.load(Ordering::Relaxed),
            log_append_time: (config.timestamp_type == TimestampType::LogAppendTime).then_some(now),
        }
    }

    /// Counts `stored` bytes towards the next snapshot, and hands one to
    /// the engine when they reach the interval.
    fn maybe_snapshot(&self, state: &mut AppendState, config: &LogConfig, stored: u64, end: i64) {
        state.unsnapshotted_bytes += stored;
        let interval = config.segment_bytes.clamp(
            *SNAPSHOT_INTERVAL_BYTES.start(),
            *SNAPSHOT_INTERVAL_BYTES.end(),
        );
        if state.unsnapshotted_bytes >= interval {
            state.unsnapshotted_bytes = 0;
            if let Some(producers) = &state.producers {
                self.write_snapshot(end, producers.encode_snapshot());
            }
        }
    }

    /// Hands a snapshot to the engine without holding up the append.
    fn write_snapshot(&self, offset: i64, snapshot: Result<Vec<u8>>) {
        let bytes = match snapshot {
            Ok(bytes) => Bytes::from(bytes),
            Err(err) => {
                warn!(error = %err, "producer snapshot not written");
                return;
            }
        };
        let engine = Arc::clone(&self.engine);
        tokio::spawn(async move {
            if let Err(err) = engine.write_producer_snapshot(offset, bytes).await {
                warn!(error = %err, offset, "producer snapshot not written");
            }
        });
    }
}

#[async_trait]
impl PartitionLog for Log {
    async fn append(&self, batches: Bytes, durability: Durability) -> Result<AppendOutcome> {
        let config = self.engine.config();
        // All or nothing: every batch is checked before anything is written,
        // and before taking the append order (the CRC pass is the costly part).
        let summaries = validate_batches(&batches, config.max_message_bytes)?;
        self.engine.load().await?;
        let outcome = {
            let mut state = self.appends.lock().await;
            let state = &mut *state;
            let producers = self.producers(&mut state.producers, &config).await?;
            producers.truncate_head(self.engine.offsets().log_start_offset);
            let now = now_ms();
            let stamp = self.stamp(&config, now);
            let base_offset = self.engine.offsets().log_end_offset;
            // Offsets first, as Kafka does: the producer state keeps them.
            let assigned = assign_offsets(batches, &summaries, base_offset, stamp)?;
            match producers.check(&assigned.headers, now)? {
                // A retry of batches already written: answered as the first
                // time (Kafka answers the batch's timestamp as its append time).
                Checked::Duplicate(original) => {
                    tracing::debug!(
                        first_offset = original.first_offset,
                        last_offset = original.last_offset,
                        "retried idempotent batch answered with its original offsets"
                    );
                    AppendOutcome {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_append_time: original.timestamp,
                        log_start_offset: 0,
                    }
                }
                Checked::Fresh(staged) => {
                    let outcome = AppendOutcome {
                        base_offset,
                        last_offset: assigned.last_offset,
                        log_append_time: stamp.log_append_time.unwrap_or(-1),
                        log_start_offset: 0,
                    };
                    let stored_bytes = assigned.len() as u64;
                    // Before the batches are readable: the last stable
                    // offset stops below a transaction they open.
                    if let Some(first) = producers.first_opened(&staged) {
                        self.hold_unstable_at(first);
                    }
                    let stored = self.engine.store(assigned, durability).await;
                    if let Err(err) = stored {
                        self.publish_unstable(producers.first_unstable_offset());
                        return Err(err);
                    }
                    producers.apply(staged, now);
                    self.publish_unstable(producers.first_unstable_offset());
                    self.maybe_snapshot(state, &config, stored_bytes, outcome.last_offset + 1);
                    outcome
                }
            }
        };
        // A duplicate waits too: its first write may not be fsynced yet.
        if durability == Durability::Synced {
            self.engine.wait_durable(outcome.last_offset + 1).await?;
        }
        Ok(AppendOutcome {
            log_start_offset: self.engine.offsets().log_start_offset,
            ..outcome
        })
    }

    async fn append_marker(&self, marker: TxnMarker) -> Result<i64> {
        let config = self.engine.config();
        self.engine.load().await?;
        let offset = {
            let mut state = self.appends.lock().await;
            let state = &mut *state;
            let producers = self.producers(&mut state.producers, &config).await?;
            producers.truncate_head(self.engine.offsets().log_start_offset);
            let now = now_ms();
            let offset = self.engine.offsets().log_end_offset;
            let completed = producers.check_marker(&marker, offset, now)?;
            let batch = marker_batch(&marker, now);
            let summary = BatchSummary {
                position: 0,
                size: batch.len(),
                record_count: 1,
                max_timestamp: now,
            };
            let mut assigned = assign_offsets(batch, &[summary], offset, self.stamp(&config, now))?;
            assigned.aborted = completed
                .filter(|txn| txn.aborted)
                .map(|txn| AbortedTxnEntry {
                    producer_id: txn.producer_id,
                    first_offset: txn.first_offset,
                    last_offset: txn.last_offset,
                    last_stable_offset: txn.last_stable_offset,
                });
            let stored_bytes = assigned.len() as u64;
            // The last stable offset moves only once the marker (and its
            // index entry) is readable.
            self.engine.store(assigned, Durability::Synced).await?;
            producers.apply_marker(&marker, offset, now);
            self.publish_unstable(producers.first_unstable_offset());
            self.maybe_snapshot(state, &config, stored_bytes, offset + 1);
            offset
        };
        self.engine.wait_durable(offset + 1).await?;
        Ok(offset)
    }

    async fn active_producers(&self) -> Result<Vec<ActiveProducer>> {
        let config = self.engine.config();
        self.engine.load().await?;
        // A log that went offline answers KAFKA_STORAGE_ERROR, as Kafka's
        // offline partition, even with its producer state in memory.
        self.engine.check_online()?;
        let mut state = self.appends.lock().await;
        let producers = self.producers(&mut state.producers, &config).await?;
        // What an append would see now: producers below the log start are gone.
        producers.truncate_head(self.engine.offsets().log_start_offset);
        Ok(producers.active(now_ms()))
    }

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome> {
        self.ensure_producers().await?;
        let mut read = self.engine.read(offset, max_bytes, min_one).await?;
        read.offsets = self.with_last_stable(read.offsets);
        Ok(read)
    }

    async fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadOutcome> {
        self.ensure_producers().await?;
        // Nothing past the last stable offset is for this reader: no bytes
        // read there (the read still checks the offset is in the log).
        let unstable = offset >= self.offsets().last_stable_offset;
        let (max_bytes, min_one) = if unstable {
            (0, false)
        } else {
            (max_bytes, min_one)
        };
        let read = self.engine.read(offset, max_bytes, min_one).await?;
        self.committed_part(offset, read).await
    }

    async fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<RecordsRead> {
        self.ensure_producers().await?;
        if !read_committed {
            let mut read = self
                .engine
                .read_records(offset, max_bytes, min_one, i64::MAX)
                .await?;
            read.offsets = self.with_last_stable(read.offsets);
            return Ok(read);
        }
        self.committed_records(offset, max_bytes, min_one).await
    }

    fn offsets(&self) -> LogOffsets {
        self.with_last_stable(self.engine.offsets())
    }

    async fn stable_offsets(&self) -> Result<LogOffsets> {
        self.ensure_producers().await?;
        Ok(self.offsets())
    }

    fn check_online(&self) -> Result<()> {
        self.engine.check_online()
    }

    fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.engine.watch_high_watermark()
    }

    fn readable_bytes(&self) -> Option<u64> {
        self.engine.readable_bytes()
    }

    async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.engine.offset_for_timestamp(timestamp).await
    }

    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        self.engine.max_timestamp().await
    }

    async fn delete_records_before(&self, offset: i64) -> Result<i64> {
        self.engine.delete_records_before(offset).await
    }

    fn size_bytes(&self) -> u64 {
        self.engine.size_bytes()
    }

    fn config(&self) -> LogConfig {
        self.engine.config()
    }

    fn set_config(&self, config: LogConfig) {
        self.engine.set_config(config)
    }
}
