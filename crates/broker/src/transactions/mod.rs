//! The transaction coordinator, as a state machine independent of the
//! network: `state` (the states and which may follow which) and `metadata`
//! (one transactional id's state and its pure transitions) decide;
//! `coordinator` stores each transition in the transaction store before
//! it takes effect, allocates producer ids (`producer_ids`) and has
//! markers written through a [`MarkerWriter`](markers::MarkerWriter).
//!
//! What Fjord chose where Kafka's design rests on its internal topic: the
//! state lives in the storage crate's `TransactionStore` (a local log of
//! its own, `__fjord_transactions/`), one coordinator serves every
//! transactional id (coordinator epoch 0), and the producer-id blocks are
//! reserved in that same store.

mod completion;
pub mod coordinator;
pub mod group_verification;
pub mod listing;
pub mod log_markers;
pub mod markers;
pub mod metadata;
pub mod producer_ids;
pub mod requests;
pub mod state;
#[cfg(test)]
mod tests;

use kafka_protocol::error::ResponseError;

use crate::configs::BrokerSettings;

pub use coordinator::{ProducerIdAndEpoch, TransactionCoordinator};
pub use requests::TxnProducer;
pub use state::TxnState;

/// The feature ApiVersions finalizes for clients to pick their transaction
/// protocol by, and the level Fjord serves: 2 (KIP-890 part 2), as Kafka
/// 4.1 clusters have it by default.
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
pub const TRANSACTION_VERSION: i16 = 2;

/// The error code a client at `version` of an API gets: PRODUCER_FENCED
/// (KIP-588) reaches clients older than `fenced_since` as
/// INVALID_PRODUCER_EPOCH, the code they handle the same way.
pub fn as_answered(code: ResponseError, version: i16, fenced_since: i16) -> ResponseError {
    if code == ResponseError::ProducerFenced && version < fenced_since {
        ResponseError::InvalidProducerEpoch
    } else {
        code
    }
}

/// The broker configs the coordinator honours.
#[derive(Debug, Clone, Copy)]
pub struct TransactionConfig {
    /// `transaction.max.timeout.ms`: InitProducerId refuses a longer
    /// `transaction.timeout.ms` with INVALID_TRANSACTION_TIMEOUT.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an id idle (no open transaction)
    /// this long is forgotten.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how
    /// often timeouts are checked (and failed markers written again).
    pub check_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how
    /// often idle transactional ids are looked for.
    pub expiry_check_interval_ms: i64,
}

impl TransactionConfig {
    pub fn from_settings(settings: &BrokerSettings) -> Self {
        TransactionConfig {
            max_timeout_ms: settings.transaction_max_timeout_ms,
            id_expiration_ms: i64::from(settings.transactional_id_expiration_ms),
            check_interval_ms: i64::from(
                settings.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            ),
            expiry_check_interval_ms: i64::from(
                settings.transaction_remove_expired_transaction_cleanup_interval_ms,
            ),
        }
    }
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self::from_settings(&BrokerSettings::default())
    }
}
