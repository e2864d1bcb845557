//! Fjord's storage: partition logs behind engine-neutral async traits, and the
//! metadata store (topics, their ids and config overrides).
//!
//! Nothing here knows the Kafka wire format beyond the magic-v2 record batch
//! header (see [`batch`]): batches are stored byte-for-byte as the producer sent
//! them, with only the base offset, partition leader epoch and (for
//! LogAppendTime topics) the max timestamp rewritten.

pub mod acls;
pub mod batch;
pub mod config;
mod crc;
pub mod data_dir_lock;
pub mod decompress;
pub mod engine;
pub mod error;
mod framing;
mod group_commit;
pub mod json_document;
pub mod kafka_uuid;
pub mod local;
pub mod local_offsets;
pub mod local_transactions;
pub mod log;
pub mod meta;
pub mod offsets;
pub mod quotas;
pub mod records;
pub mod scram;
pub mod tokens;
pub mod transactions;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

pub use config::{LogConfig, TimestampType};
pub use error::{Result, StorageError};
pub use log::marker::{AbortedTxn, TxnMarker};
pub use log::producers::ActiveProducer;
pub use records::{FileRange, Records, RecordsRead};

/// Wall-clock milliseconds since the epoch (Kafka's timestamp unit).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How long an append waits before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// acks=0/1: answered once the batch is in the page cache.
    Written,
    /// acks=-1: answered once the batch is fsynced (group-committed with
    /// concurrent appends).
    Synced,
}

/// What the log assigned to an appended set of batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped into the batches for LogAppendTime topics, -1 otherwise.
    pub log_append_time: i64,
    pub log_start_offset: i64,
}

/// Whole batches read from a log, plus the offsets every fetch answer
/// carries, taken together with the read.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Zero or more complete record batches, as stored.
    pub records: Bytes,
    pub offsets: LogOffsets,
    /// For a READ_COMMITTED read: the aborted transactions overlapping the
    /// records returned (empty for other reads).
    pub aborted_transactions: Vec<AbortedTxn>,
}

/// A log's positions, as Kafka keeps them apart: `log_start_offset <=
/// last_stable_offset <= high_watermark <= log_end_offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOffsets {
    pub log_start_offset: i64,
    /// The next offset to be assigned.
    pub log_end_offset: i64,
    /// Everything below it is committed (replicated as required); with one
    /// replica that is everything written, so it equals the log end offset.
    pub high_watermark: i64,
    /// Everything below it is decided (no open transaction); without
    /// transactions it equals the high watermark. READ_COMMITTED consumers
    /// see up to here.
    pub last_stable_offset: i64,
}

/// A record located by timestamp (ListOffsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: i32,
}

/// One partition's log. Offsets are Kafka offsets; see [`LogOffsets`] for
/// the log end offset, high watermark and last stable offset.
#[async_trait]
pub trait PartitionLog: Send + Sync {
    /// Appends one or more magic-v2 record batches exactly as a producer sent
    /// them ([`log::Log`] implements it over an engine). Validates every batch (magic, length, CRC32C, record count,
    /// `max.message.bytes`), assigns offsets and stores them. All or nothing:
    /// if any batch is invalid nothing is written.
    async fn append(&self, batches: Bytes, durability: Durability) -> Result<AppendOutcome>;

    /// Appends a transaction marker (a control batch ending the producer's
    /// transaction here, see [`log::marker`]) and returns its offset once it
    /// is fsynced. A marker from an older producer epoch than the
    /// partition knows is refused (INVALID_PRODUCER_EPOCH), as is one from
    /// an older coordinator epoch (TRANSACTION_COORDINATOR_FENCED); the
    /// marker's epoch becomes the producer's, fencing older data batches.
    async fn append_marker(&self, marker: TxnMarker) -> Result<i64>;

    /// The producers the partition knows and has not expired, by producer
    /// id (DescribeProducers): what the next append would check against.
    /// The state is rebuilt from the log first if no append has needed it
    /// yet, and forgets producers below the log start as an append would.
    async fn active_producers(&self) -> Result<Vec<ActiveProducer>>;

    /// Reads whole batches starting with the batch that contains `offset`, up to
    /// `max_bytes`; when `min_one` is set the first batch is returned even if it
    /// is larger than `max_bytes` (Kafka's rule for the first partition of a
    /// fetch). `offset` outside [log start, log end] is OffsetOutOfRange;
    /// `offset == log end` gives empty records.
    async fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome>;

    /// A READ_COMMITTED read (Fetch isolation level 1): as `read`, but only
    /// batches below the last stable offset, with the aborted transactions
    /// that overlap them (a consumer skips their batches).
    async fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadOutcome>;

    /// `read` (or with `read_committed`, `read_committed`) with the records
    /// left in the segment files where the engine keeps them in files, for
    /// the caller to send without reading them into memory (zero-copy
    /// fetch). Whole batches, the same ones the byte reads return.
    async fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<RecordsRead> {
        let read = if read_committed {
            self.read_committed(offset, max_bytes, min_one).await?
        } else {
            self.read(offset, max_bytes, min_one).await?
        };
        Ok(RecordsRead::from_bytes(offset, read, i64::MAX))
    }

    /// All four positions, read together.
    fn offsets(&self) -> LogOffsets;
    /// As `offsets`, with the last stable offset known for sure: a log
    /// that learns its open transactions lazily (the `Log` after a
    /// restart) learns them first.
    async fn stable_offsets(&self) -> Result<LogOffsets> {
        Ok(self.offsets())
    }
    fn log_end_offset(&self) -> i64 {
        self.offsets().log_end_offset
    }
    fn high_watermark(&self) -> i64 {
        self.offsets().high_watermark
    }
    fn last_stable_offset(&self) -> i64 {
        self.offsets().last_stable_offset
    }
    fn log_start_offset(&self) -> i64 {
        self.offsets().log_start_offset
    }
    /// An error while the log is offline (damaged data, a failed write or
    /// fsync): every request on it then answers KAFKA_STORAGE_ERROR, even
    /// those the watermarks alone would answer.
    fn check_online(&self) -> Result<()>;
    /// Changes whenever the high watermark moves (long-polling fetches wait on it).
    fn watch_high_watermark(&self) -> watch::Receiver<i64>;
    /// Bytes of batches that became readable (went below the high
    /// watermark) since the log was opened: a counter that only grows, not
    /// a size on disk. A parked fetch compares two readings to learn how
    /// many bytes arrived without reading them (Kafka's DelayedFetch compares
    /// log positions). `None`: the engine cannot tell, and a parked fetch
    /// reads again at every wake-up.
    fn readable_bytes(&self) -> Option<u64> {
        None
    }

    /// The first record whose timestamp is >= `timestamp` (ListOffsets by time).
    async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>>;
    /// The record with the largest timestamp (ListOffsets -3), earliest on ties.
    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>>;

    /// Moves the log start offset up to `offset` (DeleteRecords), deleting whole
    /// segments below it. Returns the new log start offset.
    async fn delete_records_before(&self, offset: i64) -> Result<i64>;

    /// Total bytes on disk of this partition's segments.
    fn size_bytes(&self) -> u64;
    fn config(&self) -> LogConfig;
    fn set_config(&self, config: LogConfig);
}

/// A partition as the log store knows it: keyed by its topic's id, so that
/// a topic deleted and created again under the same name never shares a
/// log with its predecessor; the name only names things for people (and
/// the local engine's directories).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicIdPartition {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

impl TopicIdPartition {
    pub fn new(topic_id: Uuid, topic: &str, partition: i32) -> Self {
        TopicIdPartition {
            topic_id,
            topic: topic.to_string(),
            partition,
        }
    }
}

/// The set of partition logs a broker holds, keyed by topic id and
/// partition.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Opens the partition's log, creating it empty if it does not exist
    /// (start-up: the metadata names the partition). Data of another topic
    /// id found where the partition's data goes is never adopted.
    async fn open_partition(
        &self,
        partition: &TopicIdPartition,
        config: LogConfig,
    ) -> Result<Arc<dyn PartitionLog>>;
    /// Creates a new, empty log for a partition being created (a new topic
    /// or more partitions). Never adopts existing data: anything already
    /// where the partition's data goes is moved aside and reported, and a
    /// failure leaves nothing behind.
    async fn create_partition(
        &self,
        partition: &TopicIdPartition,
        config: LogConfig,
    ) -> Result<Arc<dyn PartitionLog>>;
    fn partition(&self, topic_id: Uuid, partition: i32) -> Option<Arc<dyn PartitionLog>>;
    /// Removes the partition's log and all its data; a partition that does
    /// not exist counts as removed.
    async fn delete_partition(&self, topic_id: Uuid, partition: i32) -> Result<()>;
    /// Applies retention (`retention.ms`, `retention.bytes`) and time-based
    /// segment rolls to every partition; the broker calls this periodically.
    async fn run_housekeeping(&self) -> Result<()>;
    /// The clean shutdown: flushes and fsyncs everything and closes the
    /// logs, which answer no request afterwards.
    async fn flush_all(&self) -> Result<()>;
}
