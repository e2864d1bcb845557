//! The contract between the [`Log`](crate::log::Log) and a storage engine:
//! an engine stores batches whose offsets the log already assigned, and
//! reads them back. It never decides anything about their content.

use std::io::IoSlice;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::batch::{HeaderInfo, PatchedHeader, BATCH_HEADER_LEN};
use crate::error::Result;
use crate::{
    AbortedTxn, Durability, LogConfig, LogOffsets, ReadOutcome, RecordsRead, TimestampOffset,
};

/// Validated record batches with their offsets assigned: byte-for-byte as
/// produced except the header fields the log patched (base offset,
/// partition leader epoch, and for LogAppendTime topics the max timestamp).
/// The patched headers are kept apart from the produced bytes, which are
/// still the request's: an engine writes [`AssignedBatches::slices`].
#[derive(Debug)]
pub struct AssignedBatches {
    /// The batches end to end as produced, their headers not patched.
    pub produced: Bytes,
    /// One per batch, in order: its header as it is to be stored.
    pub patched: Vec<PatchedHeader>,
    /// One per batch, in order, read from the patched headers.
    pub headers: Vec<HeaderInfo>,
    /// The first batch's base offset: the engine's log end offset when the
    /// log assigned it.
    pub base_offset: i64,
    pub last_offset: i64,
    /// The transaction an abort marker among the batches ended, for the
    /// engine's index of aborted transactions.
    pub aborted: Option<AbortedTxnEntry>,
}

impl AssignedBatches {
    /// Bytes to store.
    pub fn len(&self) -> usize {
        self.produced.len()
    }

    pub fn is_empty(&self) -> bool {
        self.produced.is_empty()
    }

    /// The bytes to store, in order, for one vectored write: each batch's
    /// patched header, then the rest of the batch as produced.
    pub fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut slices = Vec::with_capacity(2 * self.patched.len());
        let mut position = 0;
        for (patched, header) in self.patched.iter().zip(&self.headers) {
            slices.push(IoSlice::new(patched.as_bytes()));
            slices.push(IoSlice::new(
                &self.produced[position + BATCH_HEADER_LEN..position + header.size],
            ));
            position += header.size;
        }
        slices
    }

    /// The bytes to store in one buffer (a copy), for what cannot take slices.
    pub fn to_vec(&self) -> Vec<u8> {
        self.slices()
            .iter()
            .flat_map(|slice| slice.iter().copied())
            .collect()
    }
}

/// An aborted transaction as an engine indexes it (an entry of Kafka's
/// `.txnindex`): kept with the batch holding its abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxnEntry {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
    /// The last stable offset once it was decided: no transaction open
    /// then starts below it, so a search for transactions overlapping
    /// offsets below it can stop here.
    pub last_stable_offset: i64,
}

/// What `scan_headers` calls for each batch; owned, so that an engine can
/// run the scan on another thread.
pub type HeaderVisitor = Box<dyn FnMut(&HeaderInfo) + Send>;

/// One partition's storage. The [`Log`](crate::log::Log) above it calls
/// `store` one append at a time, in offset order; the read side is what
/// [`PartitionLog`](crate::PartitionLog) documents.
#[async_trait]
pub trait PartitionEngine: Send + Sync {
    /// Makes the engine ready to append (a local engine loads and recovers
    /// its files on first use); cheap once done.
    async fn load(&self) -> Result<()>;

    /// Stores `batches`, which must start at the log end offset, and moves
    /// the log end past them. Returns once they are written (readable), not
    /// necessarily durable: see `wait_durable`.
    async fn store(&self, batches: AssignedBatches, durability: Durability) -> Result<()>;

    /// Waits until every offset below `end` is durable (fsynced).
    /// Concurrent waiters share fsyncs (group commit).
    async fn wait_durable(&self, end: i64) -> Result<()>;

    /// Calls `visit` with the header of every batch in the log whose last
    /// offset is at least `from`, in offset order (the `Log` rebuilds its
    /// producer state from them).
    async fn scan_headers(&self, from: i64, visit: HeaderVisitor) -> Result<()>;

    /// The newest producer-state snapshot kept whose offset is within the
    /// log (at most the log end offset), as `(offset, bytes)`. Snapshots
    /// beyond the log end (its tail was cut by recovery) are discarded.
    async fn read_producer_snapshot(&self) -> Result<Option<(i64, Bytes)>>;

    /// Keeps `bytes`, the `Log`'s producer state covering every batch below
    /// `offset`, durably; older snapshots may be dropped.
    async fn write_producer_snapshot(&self, offset: i64, bytes: Bytes) -> Result<()>;

    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome>;

    /// As `read`, keeping only the batches whose last offset is below
    /// `below` (the first one that is not ends the read), with the records
    /// left in their files where the engine keeps them in files.
    async fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        below: i64,
    ) -> Result<RecordsRead> {
        let read = self.read(offset, max_bytes, min_one).await?;
        Ok(RecordsRead::from_bytes(offset, read, below))
    }

    /// The aborted transactions that overlap offsets [`from`, `to`): their
    /// abort marker is at or after `from` and their first offset below `to`,
    /// in marker order (Kafka's `collectAbortedTransactions`).
    async fn aborted_transactions(&self, from: i64, to: i64) -> Result<Vec<AbortedTxn>>;
    fn offsets(&self) -> LogOffsets;
    fn check_online(&self) -> Result<()>;
    fn watch_high_watermark(&self) -> watch::Receiver<i64>;
    fn readable_bytes(&self) -> Option<u64>;
    async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>>;
    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>>;
    async fn delete_records_before(&self, offset: i64) -> Result<i64>;
    fn size_bytes(&self) -> u64;
    fn config(&self) -> LogConfig;
    fn set_config(&self, config: LogConfig);
}
