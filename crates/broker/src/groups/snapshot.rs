//! The group state kept in the OffsetStore's per-group metadata blob, written
//! at every generation change that ends Stable or Empty.
//!
//! Format: JSON of [`GroupSnapshot`] (version 1). A restarted broker restores
//! a Stable group with its members, generation and assignments, each member's
//! session starting afresh: live members keep heartbeating and committing
//! without a rebalance, dead ones expire. A group caught mid-rebalance is not
//! written; its last Stable/Empty snapshot is restored and members of the
//! newer generation get ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID and rejoin.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::group::Group;
use super::member::Member;
use super::state::GroupState;

#[derive(Debug, Serialize, Deserialize)]
struct GroupSnapshot {
    version: u8,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    state_timestamp_ms: i64,
    members: Vec<MemberSnapshot>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberSnapshot {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocol_type: String,
    protocols: Vec<(String, Vec<u8>)>,
    assignment: Vec<u8>,
}

impl Group {
    /// The blob to store, or None while the group is mid-rebalance.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        if !matches!(self.state, GroupState::Stable | GroupState::Empty) {
            return None;
        }
        let snapshot = GroupSnapshot {
            version: 1,
            state: self.state,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .iter()
                .map(|m| MemberSnapshot {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as u64,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as u64,
                    protocol_type: m.protocol_type.clone(),
                    protocols: m
                        .protocols
                        .iter()
                        .map(|(n, b)| (n.clone(), b.to_vec()))
                        .collect(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        };
        match serde_json::to_vec(&snapshot) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::error!(group = %self.id, error = %e, "cannot serialize group");
                None
            }
        }
    }

    /// Rebuilds a group from its stored blob; None (logged) if unreadable.
    pub fn restore(id: &str, blob: &[u8], now: Instant) -> Option<Group> {
        let snapshot: GroupSnapshot = match serde_json::from_slice(blob) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(group = id, error = %e, "unreadable stored group state; starting it empty");
                return None;
            }
        };
        let mut group = Group::new(id);
        group.generation = snapshot.generation;
        group.state_timestamp_ms = snapshot.state_timestamp_ms;
        if snapshot.state != GroupState::Stable || snapshot.members.is_empty() {
            return Some(group);
        }
        group.state = GroupState::Stable;
        group.protocol_type = snapshot.protocol_type;
        group.protocol_name = snapshot.protocol_name;
        group.leader = snapshot.leader;
        for m in snapshot.members {
            let session_timeout = Duration::from_millis(m.session_timeout_ms);
            if let Some(instance) = &m.instance_id {
                group.static_members.insert(instance.clone(), m.id.clone());
            }
            group.members.push(Member {
                id: m.id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout,
                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms),
                protocol_type: m.protocol_type,
                protocols: m
                    .protocols
                    .into_iter()
                    .map(|(n, b)| (n, Bytes::from(b)))
                    .collect(),
                assignment: Bytes::from(m.assignment),
                awaiting_join: None,
                awaiting_sync: None,
                heartbeat_deadline: now + session_timeout,
            });
        }
        Some(group)
    }
}
