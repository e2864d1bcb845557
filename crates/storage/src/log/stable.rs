//! The last stable offset, as Kafka's UnifiedLog keeps it: the first
//! offset of the oldest open transaction, bounded below by the log start
//! (a transaction whose first batches retention deleted stays open until
//! its marker, and must not pin the offset below the log) and above by the
//! high watermark. READ_COMMITTED reads stop there.
//!
//! The `Log` publishes the first unstable offset in an atomic, so readers
//! take no lock: lowered before the batches opening a transaction become
//! readable, raised only once a marker (and the engine's index entry for
//! an abort) is readable. A rise comes with an append (a marker, or data
//! while no transaction is open), which moves the high watermark too, so
//! fetches parked on the high watermark are woken when it may have moved.
//! The one exception: a log start moved past an open transaction's first
//! offset (DeleteRecords, retention) raises it with no append; a fetch
//! parked then reads again at the next append or answers at its deadline.

use std::sync::atomic::Ordering;

use super::Log;
use crate::batch::batches;
use crate::error::Result;
use crate::{LogOffsets, PartitionLog, ReadOutcome, RecordsRead};

/// The producer state has not been rebuilt since the log was opened: its
/// open transactions are not known yet.
pub(super) const UNKNOWN: i64 = i64::MIN;
/// No transaction is open.
pub(super) const NO_OPEN_TXN: i64 = i64::MAX;

impl Log {
    pub(super) fn publish_unstable(&self, first_unstable: Option<i64>) {
        self.first_unstable
            .store(first_unstable.unwrap_or(NO_OPEN_TXN), Ordering::Release);
    }

    /// Keeps the last stable offset at or below `first` (a transaction
    /// about to open there).
    pub(super) fn hold_unstable_at(&self, first: i64) {
        self.first_unstable.fetch_min(first, Ordering::AcqRel);
    }

    /// `offsets` with the last stable offset this log knows (the engine
    /// knows no transactions; until the producer state is rebuilt, neither
    /// does this, and the engine's answer stands).
    pub(super) fn with_last_stable(&self, mut offsets: LogOffsets) -> LogOffsets {
        let first = self.first_unstable.load(Ordering::Acquire);
        if first != UNKNOWN {
            offsets.last_stable_offset = first
                .max(offsets.log_start_offset)
                .min(offsets.high_watermark);
        }
        offsets
    }

    /// Rebuilds the producer state unless that was done: readers need the
    /// open transactions before the first append after a restart.
    pub(super) async fn ensure_producers(&self) -> Result<()> {
        if self.first_unstable.load(Ordering::Acquire) != UNKNOWN {
            return Ok(());
        }
        let config = self.engine.config();
        self.engine.load().await?;
        let mut state = self.appends.lock().await;
        self.producers(&mut state.producers, &config).await?;
        Ok(())
    }

    /// What a READ_COMMITTED reader of `offset` gets of `read`: its batches
    /// below the last stable offset (which is always a batch boundary: a
    /// transaction's first batch, or the high watermark), and the aborted
    /// transactions overlapping them.
    pub(super) async fn committed_part(
        &self,
        offset: i64,
        mut read: ReadOutcome,
    ) -> Result<ReadOutcome> {
        read.offsets = self.with_last_stable(read.offsets);
        let last_stable = read.offsets.last_stable_offset;
        let mut stable_bytes = 0;
        let mut stable_end = offset;
        for batch in batches(&read.records) {
            // The engine returns whole batches only; a torn one is not ours
            // to judge here, and is not served.
            let Ok(batch) = batch else { break };
            if batch.last_offset() >= last_stable {
                break;
            }
            stable_bytes += batch.size();
            stable_end = batch.last_offset().saturating_add(1);
        }
        read.records = read.records.slice(..stable_bytes);
        read.aborted_transactions = if stable_bytes == 0 {
            Vec::new()
        } else {
            self.engine.aborted_transactions(offset, stable_end).await?
        };
        Ok(read)
    }

    /// `committed_part` for a read that may leave its records in files: the
    /// engine stops at the last stable offset taken before the read (as
    /// Kafka's log read takes its upper bound first), since the bytes are
    /// not at hand to cut afterwards. A stable offset that rises during the
    /// read only makes the answer shorter than it could be.
    pub(super) async fn committed_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<RecordsRead> {
        let last_stable = self.offsets().last_stable_offset;
        let (max_bytes, min_one) = if offset >= last_stable {
            (0, false)
        } else {
            (max_bytes, min_one)
        };
        let mut read = self
            .engine
            .read_records(offset, max_bytes, min_one, last_stable)
            .await?;
        read.offsets = self.with_last_stable(read.offsets);
        read.aborted_transactions = if read.records.is_empty() {
            Vec::new()
        } else {
            self.engine
                .aborted_transactions(offset, read.end_offset)
                .await?
        };
        Ok(read)
    }
}
