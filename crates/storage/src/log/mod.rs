//! The `Log`: what a partition's log decides, above the engine that keeps it.
//!
//! As Kafka's UnifiedLog and LogValidator sit above LocalLog, the [`Log`]
//! owns everything an append decides: it validates produced batches
//! ([`validate`]), assigns their offsets and stamps their headers
//! ([`assign`]), and orders appends to one partition, so that offsets are
//! handed out in the order batches are stored. The engine below
//! ([`PartitionEngine`]) only stores batches whose offsets are assigned and
//! reads them back; a second engine (object storage, say) therefore gets
//! the same validation and offsets without repeating them.
//!
//! Batches stay byte-for-byte as produced: validation reads headers and
//! checks the CRC, assignment patches header fields in place, and no
//! record is decoded.

pub mod assign;
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
use crate::log::validate::validate_batches;
use crate::{
    now_ms, AppendOutcome, Durability, LogConfig, LogOffsets, PartitionLog, ReadOutcome,
    TimestampOffset,
};

/// One partition's log over its engine. A store keeps one `Log` per
/// partition: the append order lives in it.
pub struct Log {
    engine: Arc<dyn PartitionEngine>,
    /// Held from reading the log end offset until the engine has stored the
    /// batches given offsets from it (not while waiting for an fsync, which
    /// concurrent appends share).
    append_order: tokio::sync::Mutex<()>,
    leader_epoch: AtomicI32,
}

impl Log {
    pub fn new(engine: Arc<dyn PartitionEngine>) -> Log {
        Log {
            engine,
            append_order: tokio::sync::Mutex::new(()),
            leader_epoch: AtomicI32::new(0),
        }
    }

    /// The leader epoch stamped into appended batches (0 until told otherwise).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
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
        let assigned = {
            let _order = self.append_order.lock().await;
            let now = now_ms();
            let stamp = Stamp {
                partition_leader_epoch: self.leader_epoch.load(Ordering::Relaxed),
                log_append_time: (config.timestamp_type == TimestampType::LogAppendTime)
                    .then_some(now),
            };
            let base_offset = self.engine.offsets().log_end_offset;
            let assigned = assign_offsets(batches, &summaries, base_offset, stamp)?;
            let outcome = AppendOutcome {
                base_offset,
                last_offset: assigned.last_offset,
                log_append_time: stamp.log_append_time.unwrap_or(-1),
                log_start_offset: 0,
            };
            self.engine.store(assigned, durability).await?;
            outcome
        };
        if durability == Durability::Synced {
            self.engine.wait_durable(assigned.last_offset + 1).await?;
        }
        Ok(AppendOutcome {
            log_start_offset: self.engine.offsets().log_start_offset,
            ..assigned
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
