//! A consumer context for group members driven by tests and the soak: it
//! acknowledges rebalances itself, counts revocations, and can show each
//! rebalance to an observer.
//!
//! rdkafka's own rebalance handler first asks the group for its rebalance
//! protocol. librdkafka drops, unanswered, every request made to a group that
//! has terminated, so a rebalance event still queued when close() finished the
//! group blocked its member forever inside `rd_kafka_rebalance_protocol`
//! (librdkafka #4041, #4884; it hung the crash-loop test under CPU load, once
//! in ~30 runs). Here the protocol comes from the member's own config, and a
//! terminated group, which waits for nothing, is asked nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

/// librdkafka's default assignment strategies, both eager.
const EAGER_ASSIGNORS: &str = "range,roundrobin";
const STRATEGY: &str = "partition.assignment.strategy";

type Observer = Box<dyn Fn(&Rebalance<'_>) + Send + Sync>;

pub struct GroupMember {
    cooperative: bool,
    revocations: AtomicU64,
    observer: Option<Observer>,
}

impl GroupMember {
    /// The context for a member created from `config`, whose assignment
    /// strategy gives the protocol (librdkafka's only cooperative one is
    /// cooperative-sticky). A config naming none gets librdkafka's default
    /// named, so that config and context cannot disagree.
    pub fn for_config(config: &mut ClientConfig) -> GroupMember {
        if config.get(STRATEGY).is_none() {
            config.set(STRATEGY, EAGER_ASSIGNORS);
        }
        GroupMember {
            cooperative: config.get(STRATEGY) == Some("cooperative-sticky"),
            revocations: AtomicU64::new(0),
            observer: None,
        }
    }

    /// Shows every rebalance to `observer` before it is acknowledged.
    pub fn observed(mut self, observer: impl Fn(&Rebalance<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Rebalances that took partitions from this member (each rebalance of
    /// the eager protocol starts with one), errors included.
    pub fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }
}

impl ClientContext for GroupMember {}

impl ConsumerContext for GroupMember {
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
        if let Some(observer) = &self.observer {
            let rebalance = match err {
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                    Rebalance::Assign(partitions)
                }
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                    Rebalance::Revoke(partitions)
                }
                other => Rebalance::Error(KafkaError::Rebalance(other.into())),
            };
            observer(&rebalance);
        }
        if consumer.closed() {
            return;
        }
        // On an error too the group waits for the partitions to be given up.
        let acknowledged = match (assign, self.cooperative) {
            (true, false) => consumer.assign(partitions),
            (true, true) => consumer.incremental_assign(partitions),
            (false, false) => consumer.unassign(),
            (false, true) => consumer.incremental_unassign(partitions),
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
pub fn leave_group(consumer: &BaseConsumer<GroupMember>, timeout: Duration) {
    consumer.unsubscribe();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        if consumer.assignment().is_ok_and(|owned| owned.count() == 0) {
            return;
        }
    }
}
