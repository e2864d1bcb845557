//! Committed offsets on the coordinator: member checks before a commit,
//! OffsetDelete's subscription check, topic deletion and retention expiry.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Buf;
use fjord_storage::offsets::OffsetEntry;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;
use tokio::sync::watch;
use tokio::time::Instant;

use super::coordinator::{GroupCoordinator, GroupSlot};
use super::group::{now_ms, Group};
use super::state::GroupState;

/// Who commits: a member of a generation, or a standalone consumer (-1).
#[derive(Debug, Clone)]
pub struct Committer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
}

/// Topics a consumer-protocol member subscribed to, from its metadata.
fn subscribed_topics(group: &Group) -> HashSet<String> {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let mut topics = HashSet::new();
    for member in &group.members {
        let mut buf = member.metadata_for(&protocol);
        if buf.remaining() < 2 {
            continue;
        }
        let version = buf.get_i16().clamp(0, 3);
        if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut buf, version) {
            topics.extend(sub.topics.iter().map(|t| t.to_string()));
        }
    }
    topics
}

impl GroupCoordinator {
    /// Checks the committer, then stores the offsets durably.
    pub async fn commit(
        &self,
        group_id: &str,
        who: &Committer,
        offsets: Vec<OffsetEntry>,
    ) -> Result<(), ResponseError> {
        let slot = self.commit_slot(group_id, who.generation)?;
        self.on_group(&slot, |group| {
            group.check_commit(
                &who.member_id,
                who.instance_id.as_deref(),
                who.generation,
                Instant::now(),
            )
        })?;
        if offsets.is_empty() {
            return Ok(());
        }
        self.store.commit(group_id, offsets).await.map_err(|e| {
            tracing::error!(group = group_id, error = %e, "storing committed offsets failed");
            ResponseError::KafkaStorageError
        })
    }

    /// The group a commit (plain or transactional) goes to: one unknown
    /// here is created (Kafka's "simple" group) only for a commit without
    /// generation.
    pub(crate) fn commit_slot(
        &self,
        group_id: &str,
        generation: i32,
    ) -> Result<Arc<GroupSlot>, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        match self.slot(group_id) {
            Some(slot) => Ok(slot),
            None if generation < 0 => Ok(self.slot_or_create(group_id).0),
            None => Err(ResponseError::IllegalGeneration),
        }
    }

    /// OffsetDelete: per-partition errors, or a group-level error.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<(String, i32, Option<ResponseError>)>, ResponseError> {
        let slot = self.slot(group_id).ok_or(ResponseError::GroupIdNotFound)?;
        let subscribed = {
            let group = slot.state.lock();
            if group.protocol_type.as_deref() == Some("consumer") && !group.members.is_empty() {
                subscribed_topics(&group)
            } else if group.state == GroupState::Empty {
                HashSet::new()
            } else {
                return Err(ResponseError::NonEmptyGroup);
            }
        };
        let (blocked, deletable): (Vec<_>, Vec<_>) = partitions
            .into_iter()
            .partition(|(topic, _)| subscribed.contains(topic));
        if !deletable.is_empty() {
            self.store
                .delete_offsets(group_id, &deletable)
                .await
                .map_err(|e| {
                    tracing::error!(group = group_id, error = %e, "deleting offsets failed");
                    ResponseError::KafkaStorageError
                })?;
        }
        let mut results: Vec<(String, i32, Option<ResponseError>)> =
            deletable.into_iter().map(|(t, p)| (t, p, None)).collect();
        results.extend(
            blocked
                .into_iter()
                .map(|(t, p)| (t, p, Some(ResponseError::GroupSubscribedToTopic))),
        );
        Ok(results)
    }

    /// A topic was deleted: its committed offsets go too.
    pub async fn delete_topic(&self, topic: &str) -> fjord_storage::Result<()> {
        self.store.delete_topic(topic).await
    }

    /// `offsets.retention.minutes`: offsets of groups without members expire
    /// that long after their commit (standalone groups) or after the later of
    /// their commit and the group becoming empty (groups that had members), or
    /// at their explicit v2–v4 expiry, unless a transaction has an offset
    /// pending for the partition; an empty group left without offsets,
    /// committed or pending, is removed.
    pub async fn expire_offsets(&self, now_ms: i64) {
        let retention = self.config.offsets_retention.as_millis() as i64;
        let empty: Vec<(String, Option<i64>)> = self
            .all_slots()
            .iter()
            .filter_map(|slot| {
                let g = slot.state.lock();
                let idle =
                    g.state == GroupState::Empty && g.members.is_empty() && g.pending.is_empty();
                idle.then(|| {
                    (
                        g.id.clone(),
                        g.protocol_type.as_ref().map(|_| g.state_timestamp_ms),
                    )
                })
            })
            .collect();
        for (id, became_empty) in empty {
            let offsets = self.store.group_offsets(&id);
            // As Kafka: an offset a transaction may still replace does not
            // expire, and a group with pending offsets stays.
            let pending = self.pending_partitions(&id);
            let expired: Vec<(String, i32)> = offsets
                .iter()
                .filter(|e| !pending.contains(&(e.topic.clone(), e.partition)))
                .filter(|e| {
                    let c = &e.committed;
                    if c.expire_timestamp >= 0 {
                        c.expire_timestamp <= now_ms
                    } else {
                        let base =
                            became_empty.map_or(c.commit_timestamp, |t| t.max(c.commit_timestamp));
                        base.saturating_add(retention) <= now_ms
                    }
                })
                .map(|e| (e.topic.clone(), e.partition))
                .collect();
            if !expired.is_empty() {
                tracing::info!(group = %id, partitions = expired.len(), "expiring committed offsets");
                if let Err(e) = self.store.delete_offsets(&id, &expired).await {
                    tracing::error!(group = %id, error = %e, "expiring offsets failed");
                    continue;
                }
            }
            if expired.len() == offsets.len() && pending.is_empty() {
                let still_empty = self.slot(&id).is_some_and(|slot| {
                    self.remove_if(&slot, |g| {
                        g.state == GroupState::Empty
                            && g.members.is_empty()
                            && g.pending.is_empty()
                            && self.store.pending_offsets(&id).is_empty()
                    })
                });
                if still_empty {
                    let _ = self.delete_group_state(&id).await;
                }
            }
        }
    }

    async fn delete_group_state(&self, id: &str) -> fjord_storage::Result<()> {
        let result = self.store.delete_group(id).await;
        if let Err(e) = &result {
            tracing::error!(group = id, error = %e, "removing expired group failed");
        }
        result
    }

    /// The coordinator's background work: each group's deadlines when they
    /// come (woken early when a nearer one is set), offset expiry every
    /// `offsets.retention.check.interval.ms`.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut retention = tokio::time::interval(self.config.retention_check_interval);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.deadlines.next();
            let deadline = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {
                    self.abort_parked();
                    return;
                }
                () = self.deadlines.earlier_set() => {}
                () = deadline => {
                    // A slow write of one group holds up neither the others
                    // nor the next deadline.
                    let now = Instant::now();
                    let due = self.take_due(now);
                    let this = Arc::clone(&self);
                    tokio::spawn(async move { this.on_deadlines(due, now).await });
                }
                _ = retention.tick() => self.expire_offsets(now_ms()).await,
            }
        }
    }
}
