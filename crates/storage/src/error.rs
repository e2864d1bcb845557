use thiserror::Error;

pub type Result<T> = std::result::Result<T, StorageError>;

#[derive(Debug, Error)]
pub enum StorageError {
    /// CRC mismatch, bad length, truncated batch: Kafka's CORRUPT_MESSAGE.
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// Well-formed but not acceptable (wrong magic, empty batch, count
    /// mismatch): Kafka's INVALID_RECORD (or UNSUPPORTED_FOR_MESSAGE_FORMAT for magic).
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { size: usize, max: usize },
    /// An idempotent producer's batch does not follow its last one (a gap,
    /// or a new epoch not starting at 0): OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A batch from an older epoch than the producer's: INVALID_PRODUCER_EPOCH.
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A producer with an open transaction wrote a non-transactional batch:
    /// INVALID_TXN_STATE.
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A transaction marker from a coordinator epoch older than one the
    /// partition has seen: TRANSACTION_COORDINATOR_FENCED.
    #[error("transaction coordinator fenced: {0}")]
    TransactionCoordinatorFenced(String),
    #[error("offset {offset} is outside [{log_start}, {end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        /// The log end offset for reads, the high watermark for DeleteRecords.
        end: i64,
    },
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("metadata store: {0}")]
    Metadata(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A compare-and-set write of a group's state named a version that is
    /// no longer the stored one: someone else wrote the group since.
    #[error("group {group}: stored state is at version {actual}, the write expected {expected}")]
    StaleGroupState {
        group: String,
        expected: u64,
        actual: u64,
    },
    /// A topic creation named a topic that exists.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// A compare-and-set write of a topic named a version that is no longer
    /// the stored one (0: the topic is gone, or its name now belongs to
    /// another topic): someone else changed it since it was read.
    #[error("topic '{topic}': stored version is {actual}, the write expected {expected}")]
    StaleTopic {
        topic: String,
        expected: u64,
        actual: u64,
    },
    /// A compare-and-set write of a transactional id's state named a
    /// version that is no longer the stored one.
    #[error("transactional id {transactional_id}: stored state is at version {actual}, the write expected {expected}")]
    StaleTransactionState {
        transactional_id: String,
        expected: u64,
        actual: u64,
    },
}

impl StorageError {
    /// A blocking task that panicked or was cancelled: its I/O's outcome is
    /// unknown, so the caller fails as on an I/O error.
    pub(crate) fn task_failed(what: &str, join: tokio::task::JoinError) -> StorageError {
        StorageError::Io(std::io::Error::other(format!("{what} task failed: {join}")))
    }
}
