//! The classic group states and which transitions Kafka allows between them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupState {
    /// No members; the group may still hold committed offsets.
    Empty,
    /// Waiting for every member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Assignment handed out; members heartbeat.
    Stable,
    /// Deleted, or expired with no offsets left.
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether `self` may follow `from`, per Kafka's GroupMetadata.
    pub fn valid_after(self, from: GroupState) -> bool {
        use GroupState::*;
        match self {
            Empty => from == PreparingRebalance,
            PreparingRebalance => matches!(from, Stable | CompletingRebalance | Empty),
            CompletingRebalance => from == PreparingRebalance,
            Stable => from == CompletingRebalance,
            Dead => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GroupState::*;

    #[test]
    fn transitions_follow_kafka() {
        assert!(PreparingRebalance.valid_after(Empty));
        assert!(CompletingRebalance.valid_after(PreparingRebalance));
        assert!(Stable.valid_after(CompletingRebalance));
        assert!(PreparingRebalance.valid_after(Stable));
        assert!(Empty.valid_after(PreparingRebalance));
        assert!(!Stable.valid_after(Empty));
        assert!(!CompletingRebalance.valid_after(Stable));
        assert!(!Empty.valid_after(Stable));
        assert_eq!(CompletingRebalance.name(), "CompletingRebalance");
    }
}
