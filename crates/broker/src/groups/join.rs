//! JoinGroup on one group (Kafka's GroupCoordinator.doJoinGroup).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::group::Group;
use super::member::{JoinOutcome, JoinRequest, Member};
use super::state::GroupState;

/// A JoinGroup answered now, or parked until the rebalance completes.
pub enum JoinStep {
    Done(JoinOutcome),
    Wait(oneshot::Receiver<JoinOutcome>),
}

/// Limits the group enforces on joins.
#[derive(Debug, Clone, Copy)]
pub struct JoinLimits {
    pub max_size: usize,
    pub initial_delay: Duration,
}

fn fail(error: ResponseError, member_id: &str) -> JoinStep {
    JoinStep::Done(JoinOutcome::error(error, member_id))
}

impl Group {
    pub fn join(&mut self, req: JoinRequest, now: Instant, limits: JoinLimits) -> JoinStep {
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable, &req.member_id);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return fail(ResponseError::InconsistentGroupProtocol, &req.member_id);
        }
        if req.member_id.is_empty() {
            self.join_new(req, now, limits)
        } else {
            self.join_known(req, now, limits)
        }
    }

    fn is_full(&self, limits: JoinLimits) -> bool {
        self.members.len() >= limits.max_size
    }

    fn join_new(&mut self, req: JoinRequest, now: Instant, limits: JoinLimits) -> JoinStep {
        let new_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = req.instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                if self.has_member(&old_id) {
                    return self.replace_static(&old_id, new_id, req, now, limits);
                }
            }
        } else if req.require_known_member_id {
            if self.is_full(limits) {
                return fail(ResponseError::GroupMaxSizeReached, "");
            }
            let deadline = now + req.session_timeout;
            self.pending.insert(new_id.clone(), deadline);
            return fail(ResponseError::MemberIdRequired, &new_id);
        }
        if self.is_full(limits) {
            return fail(ResponseError::GroupMaxSizeReached, "");
        }
        self.add_member(new_id, req, now, limits)
    }

    fn join_known(&mut self, req: JoinRequest, now: Instant, limits: JoinLimits) -> JoinStep {
        let id = req.member_id.clone();
        if self.is_fenced(req.instance_id.as_deref(), &id) {
            return fail(ResponseError::FencedInstanceId, &id);
        }
        if !self.has_member(&id) {
            if self.pending.remove(&id).is_none() {
                return fail(ResponseError::UnknownMemberId, &id);
            }
            if self.is_full(limits) {
                return fail(ResponseError::GroupMaxSizeReached, &id);
            }
            return self.add_member(id, req, now, limits);
        }
        match self.state {
            GroupState::PreparingRebalance => self.rejoin(&id, &req, now, limits),
            GroupState::CompletingRebalance => {
                let unchanged = self
                    .member(&id)
                    .is_some_and(|m| m.protocols == req.protocols);
                if unchanged {
                    // A lost JoinGroup answer, asked again: same answer.
                    if let Some(m) = self.member_mut(&id) {
                        m.touch(now);
                    }
                    JoinStep::Done(self.current_join_outcome(&id, false))
                } else {
                    self.rejoin(&id, &req, now, limits)
                }
            }
            GroupState::Stable => {
                let unchanged = self
                    .member(&id)
                    .is_some_and(|m| m.protocols == req.protocols);
                if self.is_leader(&id) || !unchanged {
                    // The leader rejoins to have the assignment redone (its
                    // view of the topics changed); a member with new
                    // metadata (subscription, owned partitions) needs one.
                    self.rejoin(&id, &req, now, limits)
                } else {
                    // A follower asking again with nothing changed (it lost
                    // the answer, or is catching up) gets the current
                    // generation, as from Kafka: no rebalance for the group.
                    if let Some(m) = self.member_mut(&id) {
                        m.touch(now);
                    }
                    JoinStep::Done(self.current_join_outcome(&id, false))
                }
            }
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId, &id),
        }
    }

    /// The answer describing the current generation.
    pub(crate) fn current_join_outcome(
        &self,
        member_id: &str,
        skip_assignment: bool,
    ) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let is_leader = self.is_leader(member_id);
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| super::member::JoinedMember {
                        metadata: m.metadata_for(&protocol),
                        ..m.joined()
                    })
                    .collect()
            } else {
                Vec::new()
            },
            skip_assignment: skip_assignment && is_leader,
        }
    }

    fn add_member(
        &mut self,
        id: String,
        req: JoinRequest,
        now: Instant,
        limits: JoinLimits,
    ) -> JoinStep {
        let (tx, rx) = oneshot::channel();
        let mut member = Member::new(id.clone(), &req, now);
        member.awaiting_join = Some(tx);
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        self.members.push(member);
        if self.leader.is_none() {
            self.leader = Some(id);
        }
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        self.trigger_rebalance(now, limits.initial_delay);
        JoinStep::Wait(rx)
    }

    fn rejoin(
        &mut self,
        id: &str,
        req: &JoinRequest,
        now: Instant,
        limits: JoinLimits,
    ) -> JoinStep {
        let (tx, rx) = oneshot::channel();
        if let Some(member) = self.member_mut(id) {
            member.update(req, now);
            if let Some(old) = member.awaiting_join.replace(tx) {
                drop(old); // the earlier JoinGroup of this member is superseded
            }
        }
        self.trigger_rebalance(now, limits.initial_delay);
        JoinStep::Wait(rx)
    }

    /// A static member came back with a new member id (KIP-345): the old id is
    /// fenced; a Stable group whose selected protocol stays the same does not
    /// rebalance, as Kafka decides it. The member's protocol metadata may
    /// well differ (librdkafka puts the partitions it owns in it, none after
    /// a restart): that alone is no reason to move every member's partitions.
    fn replace_static(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now: Instant,
        limits: JoinLimits,
    ) -> JoinStep {
        let previous_leader = self.leader.clone().unwrap_or_default();
        let Some(member) = self.member_mut(old_id) else {
            return fail(ResponseError::UnknownMemberId, "");
        };
        let mut replies = Vec::new();
        if let Some(tx) = member.awaiting_join.take() {
            replies.push(super::group::Reply::Join(
                tx,
                JoinOutcome::error(ResponseError::FencedInstanceId, old_id),
            ));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            replies.push(super::group::Reply::Sync(
                tx,
                super::member::SyncOutcome::error(ResponseError::FencedInstanceId),
            ));
        }
        member.id = new_id.clone();
        member.update(&req, now);
        self.outbox.extend(replies);
        if self.is_leader(old_id) {
            self.leader = Some(new_id.clone());
        }
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        self.dirty = true;
        tracing::info!(group = %self.id, old = old_id, new = %new_id, "static member rejoined");
        let selected_unchanged = self.select_protocol() == self.protocol_name;
        if self.state != GroupState::Stable || !selected_unchanged {
            return self.rejoin(&new_id, &req, now, limits);
        }
        let outcome = if req.supports_skip_assignment {
            self.current_join_outcome(&new_id, true)
        } else {
            // Before v9 the leader cannot be told to skip the assignment;
            // it is not told it leads (the old leader id, as Kafka answers),
            // so it runs no assignment a Stable group would ignore anyway.
            JoinOutcome {
                leader: previous_leader,
                members: Vec::new(),
                ..self.current_join_outcome(&new_id, false)
            }
        };
        // Answered once the new member id is stored: a restart must not
        // bring back the fenced one.
        let (tx, rx) = oneshot::channel();
        self.outbox.push(super::group::Reply::Join(tx, outcome));
        JoinStep::Wait(rx)
    }
}
