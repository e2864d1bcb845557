//! What DescribeProducers shows of a partition's producers: Kafka's
//! `UnifiedLog.activeProducers`, read from the same state the appends
//! check, without changing it.

use super::ProducerStates;

/// Kafka's RecordBatch.NO_TIMESTAMP.
const NO_TIMESTAMP: i64 = -1;

/// One producer as DescribeProducers answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The last sequence of its last batch in the current epoch, -1 when
    /// none is known (a producer only a marker told of).
    pub last_sequence: i32,
    /// Its last batch's or marker's timestamp, -1 when none.
    pub last_timestamp: i64,
    /// The coordinator epoch of its last marker, -1 when none was written.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, -1 when none is open.
    pub current_txn_start_offset: i64,
}

impl ProducerStates {
    /// The producers that have not expired at `now`, by producer id.
    pub fn active(&self, now: i64) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .filter(|(_, entry)| !self.is_expired(entry, now))
            .map(|(producer_id, entry)| ActiveProducer {
                producer_id: *producer_id,
                producer_epoch: entry.epoch,
                last_sequence: entry.last_seq().unwrap_or(-1),
                last_timestamp: if entry.last_timestamp == i64::MIN {
                    NO_TIMESTAMP
                } else {
                    entry.last_timestamp
                },
                coordinator_epoch: entry.coordinator_epoch,
                current_txn_start_offset: entry.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        active.sort_by_key(|p| p.producer_id);
        active
    }
}
