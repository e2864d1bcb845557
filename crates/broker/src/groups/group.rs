//! A classic group: its members, generation and the rebalance machinery
//! shared by join, sync, leave and the timers. Nothing here blocks or does
//! I/O: answers to parked requests go to `outbox`, state to persist is
//! flagged `dirty`, and the coordinator does both after releasing its lock.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::member::{JoinOutcome, JoinedMember, Member, SyncOutcome};
use super::state::GroupState;

/// An answer to a parked JoinGroup or SyncGroup, sent once state is persisted.
pub enum Reply {
    Join(oneshot::Sender<JoinOutcome>, JoinOutcome),
    Sync(oneshot::Sender<SyncOutcome>, SyncOutcome),
}

impl Reply {
    pub(crate) fn send(self) {
        // A closed receiver is a client that went away: nothing to tell.
        match self {
            Reply::Join(tx, outcome) => drop(tx.send(outcome)),
            Reply::Sync(tx, outcome) => drop(tx.send(outcome)),
        }
    }

    /// Sends `error` instead of the answer made (the state it described
    /// could not be stored).
    pub(crate) fn fail(self, error: ResponseError) {
        match self {
            Reply::Join(tx, outcome) => {
                drop(tx.send(JoinOutcome::error(error, outcome.member_id)));
            }
            Reply::Sync(tx, _) => drop(tx.send(SyncOutcome::error(error))),
        }
    }
}

/// Kafka's InitialDelayedJoin: the first rebalance of an empty group waits
/// for more members, `group.initial.rebalance.delay.ms` at a time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitialDelay {
    pub deadline: Instant,
    pub remaining: Duration,
    pub step: Duration,
    pub new_member_added: bool,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// In join order: the first is the leader of a new group.
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until their deadline.
    pub pending: HashMap<String, Instant>,
    /// group.instance.id → current member id.
    pub static_members: HashMap<String, String>,
    /// Wall-clock ms of the last state change (offset expiry of empty groups).
    pub state_timestamp_ms: i64,
    pub(crate) join_deadline: Option<Instant>,
    pub(crate) initial_delay: Option<InitialDelay>,
    pub(crate) sync_deadline: Option<Instant>,
    pub(crate) dirty: bool,
    pub(crate) outbox: Vec<Reply>,
    /// The store's version of this group's state as last read or written:
    /// the next write must name it (compare-and-set).
    pub(crate) stored_version: u64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Group {
    pub fn new(id: &str) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            state_timestamp_ms: now_ms(),
            join_deadline: None,
            initial_delay: None,
            sync_deadline: None,
            dirty: false,
            outbox: Vec::new(),
            stored_version: 0,
        }
    }

    pub(crate) fn transition(&mut self, to: GroupState) {
        if !to.valid_after(self.state) {
            tracing::error!(group = %self.id, from = ?self.state, ?to, "invalid group transition");
        }
        tracing::debug!(group = %self.id, from = ?self.state, ?to, generation = self.generation, "group transition");
        self.state = to;
        self.state_timestamp_ms = now_ms();
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// A static member's old incarnation using an id that was replaced.
    pub fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    /// Protocols every member supports, in the first member's order.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.first() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| self.members.iter().all(|m| m.supports(name)))
            .collect()
    }

    /// Whether a member with these protocols may join (else INCONSISTENT_GROUP_PROTOCOL).
    pub fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, bytes::Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Each member votes for its most preferred candidate; most votes wins,
    /// ties going to the earlier candidate.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for member in &self.members {
            if let Some(i) = member
                .protocols
                .iter()
                .find_map(|(name, _)| candidates.iter().position(|c| c == name))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        let i = votes.iter().position(|v| *v == best)?;
        candidates.get(i).cloned()
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    /// Starts a rebalance: Stable, CompletingRebalance or Empty →
    /// PreparingRebalance, then completes it at once if nobody is missing.
    pub(crate) fn trigger_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        if self.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(now);
            return;
        }
        if self.state == GroupState::CompletingRebalance {
            // Followers waiting for the leader's assignment must rejoin.
            for member in &mut self.members {
                member.assignment = bytes::Bytes::new();
                if let Some(tx) = member.awaiting_sync.take() {
                    // As Kafka does, an answered member's session starts afresh.
                    member.touch(now);
                    self.outbox.push(Reply::Sync(
                        tx,
                        SyncOutcome::error(ResponseError::RebalanceInProgress),
                    ));
                }
            }
        }
        let was_empty = self.state == GroupState::Empty;
        self.transition(GroupState::PreparingRebalance);
        self.sync_deadline = None;
        let timeout = self.max_rebalance_timeout();
        if was_empty && !initial_delay.is_zero() {
            self.join_deadline = None;
            self.initial_delay = Some(InitialDelay {
                deadline: now + initial_delay,
                remaining: timeout.saturating_sub(initial_delay),
                step: initial_delay,
                new_member_added: false,
            });
        } else {
            self.join_deadline = Some(now + timeout);
            self.maybe_complete_join(now);
        }
    }

    pub(crate) fn maybe_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_joined()
        {
            self.complete_join(now);
        }
    }

    /// Ends PreparingRebalance: members that did not rejoin are dropped, the
    /// generation moves on, and every joined member is answered.
    pub(crate) fn complete_join(&mut self, now: Instant) {
        let missing: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in missing {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removing");
            self.drop_member(&id);
        }
        self.join_deadline = None;
        self.initial_delay = None;
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.transition(GroupState::Empty);
            return;
        }
        self.protocol_name = self.select_protocol();
        if !self.leader.as_deref().is_some_and(|l| self.has_member(l)) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.transition(GroupState::CompletingRebalance);
        self.sync_deadline = Some(now + self.max_rebalance_timeout());
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let all: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|m| JoinedMember {
                metadata: m.metadata_for(&protocol),
                ..m.joined()
            })
            .collect();
        let leader = self.leader.clone().unwrap_or_default();
        for i in 0..self.members.len() {
            let outcome = JoinOutcome {
                error: None,
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: leader.clone(),
                member_id: self.members[i].id.clone(),
                members: if self.members[i].id == leader {
                    all.clone()
                } else {
                    Vec::new()
                },
                skip_assignment: false,
            };
            let member = &mut self.members[i];
            member.touch(now);
            if let Some(tx) = member.awaiting_join.take() {
                self.outbox.push(Reply::Join(tx, outcome));
            }
        }
    }

    /// Removes a member without starting a rebalance; parked requests get
    /// UNKNOWN_MEMBER_ID.
    pub(crate) fn drop_member(&mut self, id: &str) {
        let Some(pos) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut member = self.members.remove(pos);
        if let Some(instance) = &member.instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(id) {
                self.static_members.remove(instance);
            }
        }
        if let Some(tx) = member.awaiting_join.take() {
            self.outbox.push(Reply::Join(
                tx,
                JoinOutcome::error(ResponseError::UnknownMemberId, id),
            ));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            self.outbox.push(Reply::Sync(
                tx,
                SyncOutcome::error(ResponseError::UnknownMemberId),
            ));
        }
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.dirty = true;
    }

    /// Removes a member (left, expired) and rebalances the rest.
    pub(crate) fn remove_member(&mut self, id: &str, now: Instant) {
        self.drop_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.trigger_rebalance(now, Duration::ZERO)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }
}
