//! Coordinator state-machine tests: no sockets, paused Tokio time, an
//! in-memory OffsetStore.

mod membership;
mod offsets;
mod persistence;
mod rebalance;
mod rejoin;
mod statics;
mod transactions;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::coordinator::GroupCoordinator;
use super::member::{JoinOutcome, JoinRequest, SyncOutcome};
use super::sync::SyncRequest;
use super::{GroupConfig, GroupState, MemoryOffsetStore};

pub(super) const G: &str = "g";

pub(super) fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay: Duration::ZERO,
        ..GroupConfig::default()
    }
}

/// A coordinator with its timers running; dropping the sender stops them.
pub(super) fn coordinator_with(
    config: GroupConfig,
    store: Arc<MemoryOffsetStore>,
) -> (Arc<GroupCoordinator>, watch::Sender<bool>) {
    let c = Arc::new(GroupCoordinator::new(config, store));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(c.clone().run(rx));
    (c, tx)
}

pub(super) fn coordinator() -> (Arc<GroupCoordinator>, watch::Sender<bool>) {
    coordinator_with(config(), Arc::new(MemoryOffsetStore::default()))
}

pub(super) fn request(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(30),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

pub(super) fn spawn_join(c: &Arc<GroupCoordinator>, req: JoinRequest) -> JoinHandle<JoinOutcome> {
    let c = c.clone();
    tokio::spawn(async move { c.join(G, req).await })
}

/// Lets spawned requests reach the coordinator.
pub(super) async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// A new dynamic member's member id (the MEMBER_ID_REQUIRED round).
pub(super) async fn member_id(c: &GroupCoordinator) -> String {
    let first = c.join(G, request("")).await;
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    assert!(!first.member_id.is_empty());
    first.member_id
}

pub(super) fn sync_request(
    member_id: &str,
    generation: i32,
    assignments: &[(&str, &'static [u8])],
) -> SyncRequest {
    SyncRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from_static(a)))
            .collect(),
    }
}

pub(super) async fn sync(
    c: &GroupCoordinator,
    member_id: &str,
    generation: i32,
    assignments: &[(&str, &'static [u8])],
) -> SyncOutcome {
    c.sync(G, sync_request(member_id, generation, assignments))
        .await
}

pub(super) fn state(c: &GroupCoordinator) -> Option<GroupState> {
    c.describe(G).map(|d| d.state)
}

/// One member joined and synced alone: (member id, generation).
pub(super) async fn stable_single(c: &Arc<GroupCoordinator>) -> (String, i32) {
    let id = member_id(c).await;
    let joined = c.join(G, request(&id)).await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.leader, id);
    let synced = sync(c, &id, joined.generation, &[(id.as_str(), b"a0")]).await;
    assert_eq!(synced.error, None);
    assert_eq!(state(c), Some(GroupState::Stable));
    (id, joined.generation)
}

/// A stable single-member group gains a second member and the first rejoins:
/// (first member, second member, first generation, their join answers).
pub(super) async fn second_member_joins(
    c: &Arc<GroupCoordinator>,
) -> (String, String, i32, JoinOutcome, JoinOutcome) {
    let (a, g1) = stable_single(c).await;
    let b = member_id(c).await;
    let jb = spawn_join(c, request(&b));
    settle().await;
    let ja = c.join(G, request(&a)).await;
    let jb = jb.await.expect("join task");
    (a, b, g1, ja, jb)
}
