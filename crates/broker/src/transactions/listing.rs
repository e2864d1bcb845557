//! What DescribeTransactions and ListTransactions read: the coordinator's
//! current (stored) state of each transactional id, and ListTransactions'
//! filters as Kafka's `TransactionStateManager.listTransactionStates`
//! applies them.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::coordinator::TransactionCoordinator;
use super::metadata::TransactionMetadata;
use super::state::TxnState;

/// ListTransactions' filters; an empty set or a negative duration does
/// not filter.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub states: HashSet<TxnState>,
    pub producer_ids: BTreeSet<i64>,
    /// Only ids whose transaction started longer ago than this (ms), if
    /// >= 0.
    pub min_duration_ms: i64,
    /// A whole-id match (Java's `Pattern.matcher(id).matches()`).
    pub transactional_id_pattern: Option<regex_automata::meta::Regex>,
}

/// The state Kafka names `name`, if any (names are matched exactly).
pub fn state_named(name: &str) -> Option<TxnState> {
    TxnState::ALL.into_iter().find(|s| s.name() == name)
}

impl ListFilter {
    /// Compiles a ListTransactions v2 pattern so that it must match the
    /// whole transactional id, as Java's `matches()` does.
    pub fn whole_match(pattern: &str) -> Result<regex_automata::meta::Regex, String> {
        regex_automata::meta::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())
    }

    pub fn accepts(&self, id: &str, metadata: &TransactionMetadata, now_ms: i64) -> bool {
        // Dead is transient (an id being removed); Kafka never lists it.
        if metadata.state == TxnState::Dead {
            return false;
        }
        if !self.producer_ids.is_empty() && !self.producer_ids.contains(&metadata.producer_id) {
            return false;
        }
        if !self.states.is_empty() && !self.states.contains(&metadata.state) {
            return false;
        }
        // As Kafka compares it: an id with no transaction started (start
        // time -1, Empty) counts as running since the epoch, so any
        // duration filter lists it; a completed one keeps its last start.
        if self.min_duration_ms >= 0 && now_ms - metadata.start_timestamp_ms <= self.min_duration_ms
        {
            return false;
        }
        match &self.transactional_id_pattern {
            Some(pattern) => pattern.is_match(id),
            None => true,
        }
    }
}

impl TransactionCoordinator {
    /// Every known transactional id with its current state, by id.
    pub async fn transactions(&self) -> Vec<(String, TransactionMetadata)> {
        let slots: Vec<_> = self
            .entries
            .lock()
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        let mut known = Vec::with_capacity(slots.len());
        for (id, slot) in slots {
            if let Some(metadata) = slot.lock().await.metadata.clone() {
                known.push((id, metadata));
            }
        }
        known.sort_by(|a, b| a.0.cmp(&b.0));
        known
    }
}
