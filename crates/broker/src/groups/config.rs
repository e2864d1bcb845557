//! The group coordinator's settings, from the broker's Kafka-named configs.

use std::time::Duration;

use crate::configs::StaticConfigs;

#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    pub max_size: usize,
    pub offsets_retention: Duration,
    pub retention_check_interval: Duration,
    /// `offset.metadata.max.bytes`.
    pub max_metadata_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay: Duration::from_millis(3000),
            min_session_timeout: Duration::from_millis(6000),
            max_session_timeout: Duration::from_millis(1_800_000),
            max_size: i32::MAX as usize,
            offsets_retention: Duration::from_secs(10080 * 60),
            retention_check_interval: Duration::from_millis(600_000),
            max_metadata_bytes: 4096,
        }
    }
}

impl GroupConfig {
    pub fn from_statics(statics: &StaticConfigs) -> Self {
        let ms = |name: &str, default: i64| {
            Duration::from_millis(statics.get_i64(name, default).max(0) as u64)
        };
        GroupConfig {
            initial_rebalance_delay: ms("group.initial.rebalance.delay.ms", 3000),
            min_session_timeout: ms("group.min.session.timeout.ms", 6000),
            max_session_timeout: ms("group.max.session.timeout.ms", 1_800_000),
            max_size: statics.get_i64("group.max.size", i32::MAX as i64).max(1) as usize,
            offsets_retention: Duration::from_secs(
                (statics.get_i64("offsets.retention.minutes", 10080).max(1) as u64) * 60,
            ),
            retention_check_interval: ms("offsets.retention.check.interval.ms", 600_000)
                .max(Duration::from_millis(10)),
            max_metadata_bytes: statics.get_i64("offset.metadata.max.bytes", 4096).max(0) as usize,
        }
    }
}
