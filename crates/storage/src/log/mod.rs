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
//! Batches stay byte-for-byte as produced: validation reads headers and
//! checks the CRC, assignment patches header fields in place, and no
//! record is decoded.

pub mod assign;
pub mod producers;
pub mod validate;

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::config::TimestampType;
use crate::engine::PartitionEngine;
use crate::error::Result;
use crate::log::assign::{assign_offsets, Stamp};
use crate::log::producers::{Checked, ProducerStates};
use crate::log::validate::validate_batches;
use crate::{
    now_ms, AppendOutcome, Durability, LogConfig, LogOffsets, PartitionLog, ReadOutcome,
    TimestampOffset,
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
}

/// What appends to one partition share.
struct AppendState {
    /// `None` until rebuilt from the log, at the first append.
    producers: Option<ProducerStates>,
}

impl Log {
    pub fn new(engine: Arc<dyn PartitionEngine>) -> Log {
        Log {
            engine,
            appends: tokio::sync::Mutex::new(AppendState { producers: None }),
            leader_epoch: AtomicI32::new(0),
        }
    }

    /// The leader epoch stamped into appended batches (0 until told otherwise).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
    }

    /// The producer state, rebuilt from the headers of every batch in the
    /// log the first time. (Kafka starts from a snapshot written at each
    /// segment roll; here the whole log is scanned, headers only.)
    async fn producers<'a>(
        &self,
        state: &'a mut AppendState,
        config: &LogConfig,
    ) -> Result<&'a mut ProducerStates> {
        let producers = match state.producers.take() {
            Some(producers) => producers,
            None => {
                let rebuilt = Arc::new(parking_lot::Mutex::new(ProducerStates::new(
                    config.producer_id_expiration_ms,
                )));
                let sink = Arc::clone(&rebuilt);
                self.engine
                    .scan_headers(Box::new(move |header| sink.lock().replay(header)))
                    .await?;
                let mut rebuilt = rebuilt.lock();
                std::mem::replace(&mut *rebuilt, ProducerStates::new(0))
            }
        };
        let producers = state.producers.insert(producers);
        producers.set_expiration_ms(config.producer_id_expiration_ms);
        Ok(producers)
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
            let producers = self.producers(&mut state, &config).await?;
            producers.truncate_head(self.engine.offsets().log_start_offset);
            let now = now_ms();
            let stamp = Stamp {
                partition_leader_epoch: self.leader_epoch.load(Ordering::Relaxed),
                log_append_time: (config.timestamp_type == TimestampType::LogAppendTime)
                    .then_some(now),
            };
            let base_offset = self.engine.offsets().log_end_offset;
            // Offsets first, as Kafka does: the producer state keeps them.
            let assigned = assign_offsets(batches, &summaries, base_offset, stamp)?;
            match producers.check(&assigned.headers, now)? {
                // A retry of batches already written: answered as the first
                // time (Kafka answers the batch's timestamp as its append time).
                Checked::Duplicate(original) => AppendOutcome {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time: original.timestamp,
                    log_start_offset: 0,
                },
                Checked::Fresh(staged) => {
                    let outcome = AppendOutcome {
                        base_offset,
                        last_offset: assigned.last_offset,
                        log_append_time: stamp.log_append_time.unwrap_or(-1),
                        log_start_offset: 0,
                    };
                    self.engine.store(assigned, durability).await?;
                    producers.apply(staged, now);
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

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome> {
        self.engine.read(offset, max_bytes, min_one).await
    }

    fn offsets(&self) -> LogOffsets {
        self.engine.offsets()
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
