//! Fetch and ListOffsets answer the log end offset, high watermark and last
//! stable offset each from its own value, checked on a log whose four
//! positions all differ (as they will with replicas and transactions).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use fjord_storage::{
    ActiveProducer, AppendOutcome, Durability, LogConfig, LogOffsets, PartitionLog, ReadOutcome,
    Result, StorageError, TimestampOffset, TxnMarker,
};
use kafka_protocol::messages::TopicName;
use tokio::sync::watch;
use uuid::Uuid;

use super::fetch::{read_all, Wanted};
use super::list_offsets::lookup;

const OFFSETS: LogOffsets = LogOffsets {
    log_start_offset: 2,
    last_stable_offset: 5,
    high_watermark: 7,
    log_end_offset: 9,
};

/// Holds no records; answers every position from `OFFSETS`.
struct SkewedLog {
    end: watch::Sender<i64>,
}

#[async_trait]
impl PartitionLog for SkewedLog {
    async fn append(&self, _: Bytes, _: Durability) -> Result<AppendOutcome> {
        Err(StorageError::Io(std::io::Error::other("read-only")))
    }
    async fn append_marker(&self, _: TxnMarker) -> Result<i64> {
        Err(StorageError::Io(std::io::Error::other("read-only")))
    }
    async fn active_producers(&self) -> Result<Vec<ActiveProducer>> {
        Ok(Vec::new())
    }
    async fn read(&self, _: i64, _: usize, _: bool) -> Result<ReadOutcome> {
        Ok(ReadOutcome {
            records: Bytes::new(),
            offsets: OFFSETS,
            aborted_transactions: Vec::new(),
        })
    }
    async fn read_committed(&self, offset: i64, max: usize, min_one: bool) -> Result<ReadOutcome> {
        self.read(offset, max, min_one).await
    }
    fn offsets(&self) -> LogOffsets {
        OFFSETS
    }
    fn check_online(&self) -> Result<()> {
        Ok(())
    }
    fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.end.subscribe()
    }
    async fn offset_for_timestamp(&self, _: i64) -> Result<Option<TimestampOffset>> {
        Ok(None)
    }
    async fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        Ok(None)
    }
    async fn delete_records_before(&self, offset: i64) -> Result<i64> {
        Ok(offset)
    }
    fn size_bytes(&self) -> u64 {
        0
    }
    fn config(&self) -> LogConfig {
        LogConfig::default()
    }
    fn set_config(&self, _: LogConfig) {}
}

fn skewed() -> Arc<dyn PartitionLog> {
    Arc::new(SkewedLog {
        end: watch::Sender::new(OFFSETS.high_watermark),
    })
}

#[tokio::test]
async fn fetch_answers_high_watermark_and_last_stable_offset_apart() {
    let wanted = [Wanted {
        topic: TopicName::default(),
        topic_id: Uuid::nil(),
        partition: 0,
        fetch_offset: 5,
        max_bytes: 1 << 20,
        log: Ok(skewed()),
    }];
    for read_committed in [false, true] {
        let read = read_all(&wanted, 1 << 20, read_committed).await;
        assert_eq!((read.bytes, read.any_error), (0, false));
        let answers = read.answers;
        assert_eq!(answers[0].high_watermark, 7);
        assert_eq!(answers[0].last_stable_offset, 5);
        assert_eq!(answers[0].log_start_offset, 2);
    }
}

#[tokio::test]
async fn list_offsets_latest_is_the_high_watermark_or_for_read_committed_the_last_stable_offset() {
    let log = skewed();
    const LATEST: i64 = -1;
    const EARLIEST: i64 = -2;
    assert_eq!(lookup(log.as_ref(), LATEST, false).await.unwrap(), (-1, 7));
    assert_eq!(lookup(log.as_ref(), LATEST, true).await.unwrap(), (-1, 5));
    assert_eq!(lookup(log.as_ref(), EARLIEST, true).await.unwrap(), (-1, 2));
}
