//! The transaction coordinator's durable state: each transactional id's
//! state (opaque here: the coordinator serializes it) and the producer-id
//! reservation, so that no producer id is handed out twice, across
//! restarts and kill -9 included.

use async_trait::async_trait;

use crate::{Durability, Result};

#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Durably reserves the next `count` producer ids and returns the first.
    /// The reservation is on disk before this returns, so ids of a block
    /// are never handed out again, even if the broker dies before using
    /// them all.
    async fn reserve_producer_ids(&self, count: i64) -> Result<i64>;
    /// Stores (Some) or removes (None) a transactional id's state if its
    /// version is still `expected` (0 for an id never stored): a
    /// compare-and-set, so that writers sharing a store cannot lose each
    /// other's updates. A stale `expected` fails with
    /// [`StaleTransactionState`](crate::StorageError::StaleTransactionState)
    /// and changes nothing. Returns the new version. With
    /// [`Durability::Synced`] the change is on disk when this returns; with
    /// [`Durability::Written`] it is durable no later than the next synced
    /// change (writes reach the disk in their order), which suits a state
    /// that recovery can rebuild from the one before it.
    async fn store_transaction(
        &self,
        transactional_id: &str,
        state: Option<Vec<u8>>,
        expected: u64,
        durability: Durability,
    ) -> Result<u64>;
    /// The version of an id's stored state, to compare-and-set against (0
    /// if never stored; a removal moves it on too).
    fn transaction_version(&self, transactional_id: &str) -> u64;
    /// Every stored transactional id with its state and version, for the
    /// coordinator at start-up.
    fn transactions(&self) -> Vec<StoredTransaction>;
}

/// One transactional id's state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransaction {
    pub transactional_id: String,
    pub state: Vec<u8>,
    pub version: u64,
}
