//! One transactional id's state and its transitions. Each transition is a
//! pure function from the current metadata to the metadata to store (or an
//! error code): the coordinator stores the result, and only once that is
//! durable does it become the current metadata.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use super::state::TxnState;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A partition by topic name and index.
pub type TopicPartition = (String, i32);

/// The epoch after which a producer id is retired: the coordinator keeps
/// `i16::MAX` itself, so that it can always fence the last client epoch.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// A transition that the state machine does not allow from this state: a
/// bug, or a stored state this code cannot continue from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction state {from:?} cannot become {to:?}")]
pub struct IllegalTransition {
    pub from: TxnState,
    pub to: TxnState,
}

impl From<IllegalTransition> for ResponseError {
    fn from(err: IllegalTransition) -> Self {
        tracing::error!(error = %err, "illegal transaction state transition");
        ResponseError::UnknownServerError
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionMetadata {
    pub producer_id: i64,
    /// The producer id before the last InitProducerId or rotation, so a
    /// retry from a producer that missed the answer is recognised.
    pub previous_producer_id: i64,
    /// Set while a transaction-version-2 commit or abort exhausts the
    /// epoch: the producer id it continues with once complete.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried bump is answered again.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// Consumer groups whose offsets the transaction commits
    /// (AddOffsetsToTxn); Kafka keeps these as partitions of its
    /// `__consumer_offsets` topic, which Fjord does not have.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// When the open transaction started (-1 when none is open).
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
    /// 0 or 1: markers at the producer's epoch; 2 (KIP-890): every commit
    /// or abort bumps the epoch.
    pub client_transaction_version: i16,
}

/// The stored form, versioned so a later layout can still read this one.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u8,
    #[serde(flatten)]
    metadata: TransactionMetadata,
}

const FORMAT: u8 = 1;

impl TransactionMetadata {
    /// A transactional id seen for the first time: its producer id is
    /// allocated, its epoch not yet (the first InitProducerId makes it 0).
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TransactionMetadata {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_timestamp_ms: -1,
            last_update_timestamp_ms: now_ms,
            client_transaction_version: 0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            format: FORMAT,
            metadata: self.clone(),
        };
        // Serializing plain fields, strings and integers cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if stored.format != FORMAT {
            return Err(format!(
                "unknown transaction state format {}",
                stored.format
            ));
        }
        Ok(stored.metadata)
    }

    pub fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// A copy in state `to`, checked against the state machine.
    fn to(&self, to: TxnState, now_ms: i64) -> Result<Self, IllegalTransition> {
        if !to.may_follow(self.state) {
            return Err(IllegalTransition {
                from: self.state,
                to,
            });
        }
        let mut next = self.clone();
        next.state = to;
        next.last_update_timestamp_ms = now_ms.max(self.last_update_timestamp_ms);
        Ok(next)
    }

    /// InitProducerId: the next epoch of the same producer id, in Empty.
    /// With an expected epoch (KIP-360), the current one is bumped, a
    /// retry of the last bump gets the same answer again, and anything
    /// else is a fenced producer.
    pub fn prepare_epoch_bump(
        &self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<Self, ResponseError> {
        if self.is_epoch_exhausted() {
            return Err(IllegalTransition {
                from: self.state,
                to: TxnState::Empty,
            }
            .into());
        }
        let bumped = self.producer_epoch + 1;
        let (epoch, last_epoch) = match expected_epoch {
            None => (bumped, NO_PRODUCER_EPOCH),
            Some(expected)
                if self.producer_epoch == NO_PRODUCER_EPOCH || expected == self.producer_epoch =>
            {
                (bumped, self.producer_epoch)
            }
            Some(expected) if expected == self.last_producer_epoch => {
                (self.producer_epoch, self.last_producer_epoch)
            }
            Some(_) => return Err(ResponseError::ProducerFenced),
        };
        let mut next = self.to(TxnState::Empty, now_ms)?;
        next.previous_producer_id = self.producer_id;
        next.producer_epoch = epoch;
        next.last_producer_epoch = last_epoch;
        next.timeout_ms = timeout_ms;
        next.clear_transaction();
        Ok(next)
    }

    fn clear_transaction(&mut self) {
        self.partitions.clear();
        self.groups.clear();
        self.start_timestamp_ms = -1;
    }

    /// InitProducerId once the epoch is exhausted: a new producer id at
    /// epoch 0. `keep_last_epoch` when the client named its epoch, so its
    /// retry is recognised.
    pub fn prepare_producer_id_rotation(
        &self,
        new_producer_id: i64,
        timeout_ms: i32,
        now_ms: i64,
        keep_last_epoch: bool,
    ) -> Result<Self, IllegalTransition> {
        let mut next = self.to(TxnState::Empty, now_ms)?;
        next.previous_producer_id = self.producer_id;
        next.producer_id = new_producer_id;
        next.producer_epoch = 0;
        next.last_producer_epoch = if keep_last_epoch {
            self.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        next.timeout_ms = timeout_ms;
        next.clear_transaction();
        Ok(next)
    }

    /// A newer producer of the same id (InitProducerId) or the timeout
    /// ends an ongoing transaction: the epoch is bumped so the old producer
    /// is fenced, and the transaction is aborted at that epoch. The fence
    /// and the abort are one stored step (Kafka's PrepareEpochFence is
    /// never written either).
    pub fn prepare_fence_and_abort(&self, now_ms: i64) -> Result<Self, IllegalTransition> {
        let fence = self.to(TxnState::PrepareEpochFence, now_ms)?;
        let mut abort = fence.to(TxnState::PrepareAbort, now_ms)?;
        // An epoch of i16::MAX - 1 is the last a client may hold, so the
        // bump always fits; i16::MAX itself can only be the coordinator's.
        abort.producer_epoch = self.producer_epoch.saturating_add(1);
        abort.last_producer_epoch = NO_PRODUCER_EPOCH;
        Ok(abort)
    }

    /// The markers are written: the transaction is decided.
    pub fn prepare_complete(&self, now_ms: i64) -> Result<Self, IllegalTransition> {
        let to = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        let mut next = self.to(to, now_ms)?;
        next.partitions.clear();
        next.groups.clear();
        if self.client_transaction_version >= 2 && self.next_producer_id != NO_PRODUCER_ID {
            // The commit or abort used the last epoch: continue with the
            // producer id allocated for it.
            next.previous_producer_id = self.producer_id;
            next.producer_id = self.next_producer_id;
            next.producer_epoch = 0;
        }
        next.next_producer_id = NO_PRODUCER_ID;
        Ok(next)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is open (it
    /// starts now if it was not) and covers these partitions and groups too.
    pub fn prepare_add(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        groups: impl IntoIterator<Item = String>,
        client_transaction_version: i16,
        now_ms: i64,
    ) -> Result<Self, IllegalTransition> {
        let mut next = self.to(TxnState::Ongoing, now_ms)?;
        if self.state != TxnState::Ongoing {
            next.start_timestamp_ms = now_ms;
        }
        next.partitions.extend(partitions);
        next.groups.extend(groups);
        next.client_transaction_version = client_transaction_version;
        Ok(next)
    }

    /// EndTxn: the decision is taken (PrepareCommit or PrepareAbort). With
    /// transaction version 2 the epoch is bumped too (KIP-890), and when
    /// that uses the last epoch `next_producer_id` (which the caller
    /// allocated) is where the producer continues.
    pub fn prepare_end(
        &self,
        commit: bool,
        client_transaction_version: i16,
        next_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<Self, IllegalTransition> {
        let to = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let mut next = self.to(to, now_ms)?;
        next.client_transaction_version = client_transaction_version;
        if client_transaction_version >= 2 {
            next.producer_epoch = self.producer_epoch.saturating_add(1);
            next.last_producer_epoch = self.producer_epoch;
            if is_epoch_exhausted(next.producer_epoch) {
                next.next_producer_id = next_producer_id.unwrap_or(NO_PRODUCER_ID);
            }
        }
        if self.state != TxnState::Ongoing {
            // A version-2 abort with nothing open: it starts and ends now.
            next.start_timestamp_ms = now_ms;
        }
        Ok(next)
    }
}
