//! A consumer context for group members driven by tests and the soak: counts
//! revocations and acknowledges rebalances itself.
//!
//! rdkafka's own rebalance handler first asks the group for its rebalance
//! protocol. librdkafka drops, unanswered, every request made to a group that
//! has terminated, so a rebalance event still queued when close() finished the
//! group blocked its member forever inside `rd_kafka_rebalance_protocol`
//! (librdkafka #4041, #4884; it hung the crash-loop test under CPU load, once
//! in ~30 runs). With the eager protocol the handler needs no such question,
//! and a terminated group waits for nothing, so it is not asked anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};

/// The assignment strategy [`EagerMember`] relies on: librdkafka's default,
/// named so that a member's config says it.
pub const EAGER_ASSIGNORS: &str = "range,roundrobin";

#[derive(Default)]
pub struct EagerMember {
    revocations: AtomicU64,
}

impl EagerMember {
    /// Rebalances that took this member's partitions (each rebalance of the
    /// eager protocol starts with one), errors included.
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }
}

impl ClientContext for EagerMember {}

impl ConsumerContext for EagerMember {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let assign = err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
        if !assign {
            self.revocations.fetch_add(1, Ordering::SeqCst);
        }
        if consumer.closed() {
            return;
        }
        // On an error too the group waits for the partitions to be given up.
        let acknowledged = if assign {
            consumer.assign(partitions)
        } else {
            consumer.unassign()
        };
        if let Err(e) = acknowledged {
            eprintln!("rebalance ({err:?}) not acknowledged: {e}");
        }
    }
}

/// Leaves the group while it still serves requests, waiting at most
/// `timeout` for the partitions to be revoked, so that close() (on drop) has
/// no rebalance left for the member to handle. Records polled meanwhile are
/// dropped.
pub fn leave_group(consumer: &BaseConsumer<EagerMember>, timeout: Duration) {
    consumer.unsubscribe();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        if consumer.assignment().is_ok_and(|owned| owned.count() == 0) {
            return;
        }
    }
}
