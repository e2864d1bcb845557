//! The group coordinator: every classic group of this broker behind one
//! lock, the async face of the state machine. Each operation changes state
//! under the lock, then (outside it, serialized by `persist`) writes the
//! changed groups' snapshots to the OffsetStore and only then answers the
//! parked JoinGroup/SyncGroup requests.

use std::collections::HashMap;
use std::sync::Arc;

use fjord_storage::offsets::OffsetStore;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::GroupConfig;
use super::group::{Group, Reply};
use super::join::{JoinLimits, JoinStep};
use super::member::{JoinOutcome, JoinRequest, SyncOutcome};
use super::state::GroupState;
use super::sync::{LeavingMember, SyncRequest, SyncStep};

pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) store: Arc<dyn OffsetStore>,
    pub(crate) groups: Mutex<HashMap<String, Group>>,
    persist: tokio::sync::Mutex<()>,
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
        GroupCoordinator {
            config,
            store,
            groups: Mutex::new(groups),
            persist: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn OffsetStore> {
        &self.store
    }

    /// Persists changed groups, then sends the answers they produced.
    pub(crate) async fn settle(&self, ids: &[String]) {
        let _order = self.persist.lock().await;
        let mut writes = Vec::new();
        let mut replies = Vec::new();
        {
            let mut groups = self.groups.lock();
            for id in ids {
                let Some(group) = groups.get_mut(id) else {
                    continue;
                };
                if group.dirty {
                    if let Some(blob) = group.snapshot() {
                        writes.push((id.clone(), blob));
                    }
                    group.dirty = false;
                }
                replies.append(&mut group.outbox);
            }
        }
        for (id, blob) in writes {
            if let Err(e) = self.store.store_group_metadata(&id, Some(blob)).await {
                // The group runs on from memory; only a restart loses this generation.
                tracing::error!(group = %id, error = %e, "storing group state failed");
            }
        }
        for reply in replies {
            // A closed receiver is a client that went away: nothing to tell.
            match reply {
                Reply::Join(tx, outcome) => drop(tx.send(outcome)),
                Reply::Sync(tx, outcome) => drop(tx.send(outcome)),
            }
        }
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
        let step = {
            let mut groups = self.groups.lock();
            let created = !groups.contains_key(group_id);
            if created && !req.member_id.is_empty() {
                return JoinOutcome::error(ResponseError::UnknownMemberId, req.member_id);
            }
            let group = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new(group_id));
            let step = group.join(req, Instant::now(), limits);
            if created && group.members.is_empty() && group.pending.is_empty() {
                groups.remove(group_id);
            }
            step
        };
        self.settle(&[group_id.to_string()]).await;
        match step {
            JoinStep::Done(outcome) => outcome,
            JoinStep::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ResponseError::UnknownMemberId, "")),
        }
    }

    pub async fn sync(&self, group_id: &str, req: SyncRequest) -> SyncOutcome {
        let step = {
            let mut groups = self.groups.lock();
            match groups.get_mut(group_id) {
                None => return SyncOutcome::error(ResponseError::UnknownMemberId),
                Some(group) => group.sync(req, Instant::now()),
            }
        };
        self.settle(&[group_id.to_string()]).await;
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
        let mut groups = self.groups.lock();
        match groups.get_mut(group_id) {
            None => Some(ResponseError::UnknownMemberId),
            Some(group) => group.heartbeat(member_id, instance_id, generation, Instant::now()),
        }
    }

    pub async fn leave(
        &self,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> Vec<Option<ResponseError>> {
        let errors = {
            let mut groups = self.groups.lock();
            match groups.get_mut(group_id) {
                None => return vec![Some(ResponseError::UnknownMemberId); leaving.len()],
                Some(group) => group.leave(leaving, Instant::now()),
            }
        };
        self.settle(&[group_id.to_string()]).await;
        errors
    }

    /// Acts on passed deadlines in every group.
    pub async fn tick(&self, now: Instant) {
        let touched: Vec<String> = {
            let mut groups = self.groups.lock();
            groups
                .values_mut()
                .filter_map(|group| {
                    group.tick(now);
                    (group.dirty || !group.outbox.is_empty()).then(|| group.id.clone())
                })
                .collect()
        };
        if !touched.is_empty() {
            self.settle(&touched).await;
        }
    }

    /// At shutdown: answers every parked JoinGroup/SyncGroup with
    /// NOT_COORDINATOR (clients look the coordinator up again and retry), so
    /// connections waiting on them can close.
    pub fn abort_parked(&self) {
        let mut replies = Vec::new();
        {
            let mut groups = self.groups.lock();
            for group in groups.values_mut() {
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
        }
        for reply in replies {
            match reply {
                Reply::Join(tx, outcome) => drop(tx.send(outcome)),
                Reply::Sync(tx, outcome) => drop(tx.send(outcome)),
            }
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.groups.lock();
        let group = groups.get(group_id)?;
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
        let groups = self.groups.lock();
        let mut listed: Vec<GroupListing> = groups
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DeleteGroups for one group.
    pub async fn delete_group(&self, group_id: &str) -> Option<ResponseError> {
        {
            let mut groups = self.groups.lock();
            match groups.get(group_id) {
                None => return Some(ResponseError::GroupIdNotFound),
                Some(g) if g.state != GroupState::Empty || !g.members.is_empty() => {
                    return Some(ResponseError::NonEmptyGroup)
                }
                Some(_) => {}
            }
            groups.remove(group_id);
        }
        let _order = self.persist.lock().await;
        match self.store.delete_group(group_id).await {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "deleting group failed");
                Some(ResponseError::KafkaStorageError)
            }
        }
    }
}
