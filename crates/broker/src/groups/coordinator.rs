//! The group coordinator: the async face of the per-group state machines.
//! Each group has a lock of its own (held only for a synchronous
//! transition, never across I/O) and a persistence order of its own: an
//! operation changes its group's state, then `settle` writes the group's
//! snapshot to the OffsetStore and only then answers the parked
//! JoinGroup/SyncGroup requests it produced, so one group's slow write
//! never holds up another group.

use std::collections::HashMap;
use std::sync::Arc;

use fjord_storage::offsets::OffsetStore;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::GroupConfig;
use super::deadlines::Deadlines;
use super::group::{Group, Reply};
use super::join::{JoinLimits, JoinStep};
use super::member::{JoinOutcome, JoinRequest, SyncOutcome};
use super::state::GroupState;
use super::sync::{LeavingMember, SyncRequest, SyncStep};

/// One group: its state and the order its writes reach the store in.
pub(crate) struct GroupSlot {
    pub(crate) state: Mutex<Group>,
    /// Held from taking a snapshot until its answers are sent: the group's
    /// states are stored, and its answers go out, in the order they were made.
    pub(crate) persist: tokio::sync::Mutex<()>,
}

pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) store: Arc<dyn OffsetStore>,
    /// Held only to find, add or remove a group.
    groups: Mutex<HashMap<String, Arc<GroupSlot>>>,
    pub(crate) deadlines: Deadlines,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol when Stable, else empty.
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

impl GroupCoordinator {
    /// Loads every group the store knows: stored state first, then groups
    /// that only have committed offsets (as Empty).
    pub fn new(config: GroupConfig, store: Arc<dyn OffsetStore>) -> Self {
        let now = Instant::now();
        let mut groups = HashMap::new();
        for (id, blob) in store.group_metadata() {
            if let Some(group) = Group::restore(&id, &blob, now) {
                groups.insert(id, group);
            }
        }
        for id in store.groups() {
            groups.entry(id.clone()).or_insert_with(|| Group::new(&id));
        }
        if !groups.is_empty() {
            tracing::info!(groups = groups.len(), "group coordinator loaded groups");
        }
        let deadlines = Deadlines::default();
        let groups = groups
            .into_iter()
            .map(|(id, mut group)| {
                group.stored_version = store.group_state_version(&id);
                deadlines.set(&id, group.next_deadline());
                (id, Arc::new(GroupSlot::new(group)))
            })
            .collect();
        GroupCoordinator {
            config,
            store,
            groups: Mutex::new(groups),
            deadlines,
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn OffsetStore> {
        &self.store
    }

    pub(crate) fn slot(&self, group_id: &str) -> Option<Arc<GroupSlot>> {
        self.groups.lock().get(group_id).cloned()
    }

    /// The group, created Empty (at the store's version of it) if unknown;
    /// whether it was created.
    pub(crate) fn slot_or_create(&self, group_id: &str) -> (Arc<GroupSlot>, bool) {
        let mut groups = self.groups.lock();
        if let Some(slot) = groups.get(group_id) {
            return (Arc::clone(slot), false);
        }
        let mut group = Group::new(group_id);
        group.stored_version = self.store.group_state_version(group_id);
        let slot = Arc::new(GroupSlot::new(group));
        groups.insert(group_id.to_string(), Arc::clone(&slot));
        (slot, true)
    }

    /// Runs one synchronous transition on the group, then files its next
    /// deadline.
    pub(crate) fn on_group<R>(&self, slot: &GroupSlot, f: impl FnOnce(&mut Group) -> R) -> R {
        let mut group = slot.state.lock();
        let result = f(&mut group);
        self.deadlines.set(&group.id, group.next_deadline());
        result
    }

    /// Removes the group if `removable` still holds under its lock. A
    /// request that found the group before it went sees it Dead and gets
    /// COORDINATOR_NOT_AVAILABLE, as from Kafka, and retries.
    pub(crate) fn remove_if(
        &self,
        slot: &Arc<GroupSlot>,
        removable: impl FnOnce(&Group) -> bool,
    ) -> bool {
        let mut groups = self.groups.lock();
        let group_id = slot.state.lock().id.clone();
        if !groups.get(&group_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            return false;
        }
        let mut group = slot.state.lock();
        if !removable(&group) {
            return false;
        }
        group.transition(GroupState::Dead);
        groups.remove(&group_id);
        self.deadlines.set(&group_id, None);
        true
    }

    pub(crate) fn all_slots(&self) -> Vec<Arc<GroupSlot>> {
        self.groups.lock().values().cloned().collect()
    }

    pub async fn join(&self, group_id: &str, req: JoinRequest) -> JoinOutcome {
        if group_id.is_empty() {
            return JoinOutcome::error(ResponseError::InvalidGroupId, req.member_id);
        }
        if req.session_timeout < self.config.min_session_timeout
            || req.session_timeout > self.config.max_session_timeout
        {
            return JoinOutcome::error(ResponseError::InvalidSessionTimeout, req.member_id);
        }
        let limits = JoinLimits {
            max_size: self.config.max_size,
            initial_delay: self.config.initial_rebalance_delay,
        };
        let (slot, created) = if req.member_id.is_empty() {
            self.slot_or_create(group_id)
        } else {
            match self.slot(group_id) {
                Some(slot) => (slot, false),
                None => return JoinOutcome::error(ResponseError::UnknownMemberId, req.member_id),
            }
        };
        let step = self.on_group(&slot, |group| group.join(req, Instant::now(), limits));
        if created {
            // A refused first join leaves no group behind.
            self.remove_if(&slot, |g| g.members.is_empty() && g.pending.is_empty());
        }
        // The outcome of a write failure reaches parked requests through
        // their replies.
        let _ = self.settle(&slot).await;
        match step {
            JoinStep::Done(outcome) => outcome,
            JoinStep::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ResponseError::UnknownMemberId, "")),
        }
    }

    pub async fn sync(&self, group_id: &str, req: SyncRequest) -> SyncOutcome {
        let Some(slot) = self.slot(group_id) else {
            return SyncOutcome::error(ResponseError::UnknownMemberId);
        };
        let step = self.on_group(&slot, |group| group.sync(req, Instant::now()));
        let _ = self.settle(&slot).await;
        match step {
            SyncStep::Done(outcome) => outcome,
            SyncStep::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| SyncOutcome::error(ResponseError::RebalanceInProgress)),
        }
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ResponseError> {
        let Some(slot) = self.slot(group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        self.on_group(&slot, |group| {
            group.heartbeat(member_id, instance_id, generation, Instant::now())
        })
    }

    /// Per member, its error; a failed write of the group's new state fails
    /// every member's leave.
    pub async fn leave(
        &self,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> Vec<Option<ResponseError>> {
        let Some(slot) = self.slot(group_id) else {
            return vec![Some(ResponseError::UnknownMemberId); leaving.len()];
        };
        let errors = self.on_group(&slot, |group| group.leave(leaving, Instant::now()));
        match self.settle(&slot).await {
            Ok(()) => errors,
            Err(e) => vec![Some(e); leaving.len()],
        }
    }

    /// Acts on every group whose deadline has passed by `now`.
    pub async fn tick(&self, now: Instant) {
        let due = self.take_due(now);
        self.on_deadlines(due, now).await;
    }

    /// Groups whose deadline has passed, taken out of the deadline set.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<Arc<GroupSlot>> {
        let due = self.deadlines.take_due(now);
        due.iter().filter_map(|id| self.slot(id)).collect()
    }

    /// Runs the due groups' timers; each group settles on its own.
    pub(crate) async fn on_deadlines(&self, due: Vec<Arc<GroupSlot>>, now: Instant) {
        let settles = due.iter().map(|slot| async move {
            self.on_group(slot, |group| group.tick(now));
            let _ = self.settle(slot).await;
        });
        futures::future::join_all(settles).await;
    }

    /// At shutdown: answers every parked JoinGroup/SyncGroup with
    /// NOT_COORDINATOR (clients look the coordinator up again and retry), so
    /// connections waiting on them can close.
    pub fn abort_parked(&self) {
        let mut replies = Vec::new();
        for slot in self.all_slots() {
            let mut group = slot.state.lock();
            replies.append(&mut group.outbox);
            for member in &mut group.members {
                if let Some(tx) = member.awaiting_join.take() {
                    let outcome =
                        JoinOutcome::error(ResponseError::NotCoordinator, member.id.clone());
                    replies.push(Reply::Join(tx, outcome));
                }
                if let Some(tx) = member.awaiting_sync.take() {
                    replies.push(Reply::Sync(
                        tx,
                        SyncOutcome::error(ResponseError::NotCoordinator),
                    ));
                }
            }
        }
        for reply in replies {
            reply.send();
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let slot = self.slot(group_id)?;
        let group = slot.state.lock();
        let stable = group.state == GroupState::Stable;
        let protocol = group.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: group
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Default::default()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Default::default()
                    },
                })
                .collect(),
        })
    }

    pub fn list(&self) -> Vec<GroupListing> {
        let mut listed: Vec<GroupListing> = self
            .all_slots()
            .iter()
            .map(|slot| {
                let g = slot.state.lock();
                GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state,
                }
            })
            .filter(|g| g.state != GroupState::Dead)
            .collect();
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DeleteGroups for one group.
    pub async fn delete_group(&self, group_id: &str) -> Option<ResponseError> {
        let Some(slot) = self.slot(group_id) else {
            return Some(ResponseError::GroupIdNotFound);
        };
        let _order = slot.persist.lock().await;
        let mut non_empty = false;
        let removed = self.remove_if(&slot, |g| {
            non_empty = g.state != GroupState::Empty || !g.members.is_empty();
            !non_empty
        });
        if non_empty {
            return Some(ResponseError::NonEmptyGroup);
        }
        if !removed {
            return Some(ResponseError::GroupIdNotFound);
        }
        match self.store.delete_group(group_id).await {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "deleting group failed");
                Some(ResponseError::KafkaStorageError)
            }
        }
    }
}

impl GroupSlot {
    fn new(group: Group) -> Self {
        GroupSlot {
            state: Mutex::new(group),
            persist: tokio::sync::Mutex::new(()),
        }
    }
}
