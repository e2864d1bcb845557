//! Per-partition log settings, named after Kafka's topic configs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `retention.ms`, -1 = unlimited
    pub retention_ms: i64,
    /// `retention.bytes`, -1 = unlimited
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted
    pub max_message_bytes: usize,
    /// `message.timestamp.type`
    pub timestamp_type: TimestampType,
    /// `index.interval.bytes`: bytes between sparse index entries
    pub index_interval_bytes: usize,
    /// `segment.index.bytes`: max size of an offset/time index file
    pub segment_index_bytes: usize,
    /// `producer.id.expiration.ms` (a broker config): an idempotent
    /// producer that wrote nothing for this long is forgotten.
    pub producer_id_expiration_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024 + 12,
            timestamp_type: TimestampType::CreateTime,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            producer_id_expiration_ms: 86_400_000,
        }
    }
}
