//! SyncGroup, Heartbeat, LeaveGroup and the OffsetCommit member check on one
//! group (Kafka's doSyncGroup, handleHeartbeat, handleLeaveGroup).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::group::{Group, Reply};
use super::member::SyncOutcome;
use super::state::GroupState;

pub struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    /// SyncGroup v5 checks these against the group's.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: HashMap<String, Bytes>,
}

pub enum SyncStep {
    Done(SyncOutcome),
    Wait(oneshot::Receiver<SyncOutcome>),
}

/// One member leaving in a (batch) LeaveGroup.
#[derive(Debug, Clone)]
pub struct LeavingMember {
    pub member_id: String,
    pub instance_id: Option<String>,
}

impl Group {
    /// Checks a member and generation as every member request does.
    pub(crate) fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if self.is_fenced(instance_id, member_id) {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.has_member(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    fn stable_outcome(&self, member_id: &str) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .member(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn sync(&mut self, req: SyncRequest, now: Instant) -> SyncStep {
        let done = |e| SyncStep::Done(SyncOutcome::error(e));
        if let Err(e) =
            self.check_member(&req.member_id, req.instance_id.as_deref(), req.generation)
        {
            return done(e);
        }
        if req.protocol_type.is_some() && req.protocol_type != self.protocol_type
            || req.protocol_name.is_some() && req.protocol_name != self.protocol_name
        {
            return done(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => done(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => done(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                if let Some(m) = self.member_mut(&req.member_id) {
                    m.touch(now);
                }
                SyncStep::Done(self.stable_outcome(&req.member_id))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.member_mut(&req.member_id) {
                    m.touch(now);
                    m.awaiting_sync = Some(tx);
                }
                if self.is_leader(&req.member_id) {
                    let mut assignments = req.assignments;
                    for member in &mut self.members {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.transition(GroupState::Stable);
                    self.sync_deadline = None;
                    self.dirty = true;
                    let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
                    for id in ids {
                        let outcome = self.stable_outcome(&id);
                        let member = self.member_mut(&id);
                        if let Some(tx) = member.and_then(|m| {
                            m.touch(now);
                            m.awaiting_sync.take()
                        }) {
                            self.outbox.push(Reply::Sync(tx, outcome));
                        }
                    }
                }
                SyncStep::Wait(rx)
            }
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Option<ResponseError> {
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            return Some(e);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                if let Some(m) = self.member_mut(member_id) {
                    m.touch(now);
                }
                Some(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if let Some(m) = self.member_mut(member_id) {
                    m.touch(now);
                }
                None
            }
        }
    }

    /// Removes each leaving member; one rebalance for the whole batch.
    pub fn leave(&mut self, leaving: &[LeavingMember], now: Instant) -> Vec<Option<ResponseError>> {
        let mut errors = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for who in leaving {
            let instance = who.instance_id.as_deref();
            // KIP-345: an admin may remove a static member by instance id alone.
            let id = if who.member_id.is_empty() {
                match instance.and_then(|i| self.static_members.get(i)) {
                    Some(id) => id.clone(),
                    None => {
                        errors.push(Some(ResponseError::UnknownMemberId));
                        continue;
                    }
                }
            } else {
                who.member_id.clone()
            };
            if self.is_fenced(instance, &id) {
                errors.push(Some(ResponseError::FencedInstanceId));
            } else if self.pending.remove(&id).is_some() {
                errors.push(None);
                removed = true;
            } else if self.has_member(&id) {
                tracing::info!(group = %self.id, member = %id, "member left");
                self.drop_member(&id);
                errors.push(None);
                removed = true;
            } else {
                errors.push(Some(ResponseError::UnknownMemberId));
            }
        }
        if removed {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.trigger_rebalance(now, std::time::Duration::ZERO)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join(now),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        errors
    }

    /// Whether an OffsetCommit from this member and generation is accepted.
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.is_fenced(instance_id, member_id) {
            return Err(ResponseError::FencedInstanceId);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(()); // a standalone consumer using the group for offsets only
        }
        self.check_member(member_id, instance_id, generation)?;
        match self.state {
            GroupState::CompletingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance | GroupState::Stable => {
                if let Some(m) = self.member_mut(member_id) {
                    m.touch(now);
                }
                Ok(())
            }
        }
    }
}
