//! Writing group state: per-group order (one group's slow write holds up no
//! other group), a failed or stale write fails the requests waiting on it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore, PendingOffsets};
use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::*;

/// A MemoryOffsetStore whose group-state writes can be held or failed.
#[derive(Default)]
struct HookedStore {
    inner: MemoryOffsetStore,
    held: Mutex<HashMap<String, Arc<Notify>>>,
    failing: Mutex<HashSet<String>>,
}

impl HookedStore {
    /// Holds the group's next writes until the returned gate is opened.
    fn hold(&self, group: &str) -> Arc<Notify> {
        let gate = Arc::new(Notify::new());
        self.held.lock().insert(group.to_string(), gate.clone());
        gate
    }

    fn fail(&self, group: &str, failing: bool) {
        let mut all = self.failing.lock();
        if failing {
            all.insert(group.to_string());
        } else {
            all.remove(group);
        }
    }
}

#[async_trait]
impl OffsetStore for HookedStore {
    async fn commit(&self, group: &str, offsets: Vec<OffsetEntry>) -> fjord_storage::Result<()> {
        self.inner.commit(group, offsets).await
    }
    fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.inner.fetch(group, topic, partition)
    }
    fn group_offsets(&self, group: &str) -> Vec<OffsetEntry> {
        self.inner.group_offsets(group)
    }
    fn groups(&self) -> Vec<String> {
        self.inner.groups()
    }
    async fn commit_pending(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<OffsetEntry>,
    ) -> fjord_storage::Result<()> {
        self.inner
            .commit_pending(group, producer_id, producer_epoch, offsets)
            .await
    }
    async fn complete_transaction(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> fjord_storage::Result<()> {
        self.inner
            .complete_transaction(group, producer_id, producer_epoch, commit)
            .await
    }
    fn pending_offsets(&self, group: &str) -> Vec<PendingOffsets> {
        self.inner.pending_offsets(group)
    }
    async fn delete_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> fjord_storage::Result<()> {
        self.inner.delete_offsets(group, partitions).await
    }
    async fn delete_group(&self, group: &str) -> fjord_storage::Result<()> {
        self.inner.delete_group(group).await
    }
    async fn delete_topic(&self, topic: &str) -> fjord_storage::Result<()> {
        self.inner.delete_topic(topic).await
    }
    async fn store_group_metadata(
        &self,
        group: &str,
        metadata: Option<Vec<u8>>,
        expected: u64,
    ) -> fjord_storage::Result<u64> {
        let gate = self.held.lock().get(group).cloned();
        if let Some(gate) = gate {
            gate.notified().await;
        }
        if self.failing.lock().contains(group) {
            return Err(StorageError::Io(std::io::Error::other("injected failure")));
        }
        self.inner
            .store_group_metadata(group, metadata, expected)
            .await
    }
    fn group_state_version(&self, group: &str) -> u64 {
        self.inner.group_state_version(group)
    }
    fn group_metadata(&self) -> Vec<(String, Vec<u8>)> {
        self.inner.group_metadata()
    }
}

fn running(store: Arc<dyn OffsetStore>) -> (Arc<GroupCoordinator>, watch::Sender<bool>) {
    let c = Arc::new(GroupCoordinator::new(config(), store));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(c.clone().run(rx));
    (c, tx)
}

fn static_request(instance: &str) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.to_string()),
        ..request("")
    }
}

/// A single static member's join and its leader SyncGroup (which makes the
/// group Stable and so writes it), the sync spawned.
async fn join_then_spawn_sync(
    c: &Arc<GroupCoordinator>,
    group: &'static str,
) -> (JoinOutcome, JoinHandle<SyncOutcome>) {
    let joined = c.join(group, static_request("i")).await;
    assert_eq!(joined.error, None);
    let mut req = sync_request(&joined.member_id, joined.generation, &[]);
    req.instance_id = Some("i".into());
    req.assignments
        .insert(joined.member_id.clone(), Bytes::from_static(b"p0"));
    let c = c.clone();
    (
        joined,
        tokio::spawn(async move { c.sync(group, req).await }),
    )
}

#[tokio::test(start_paused = true)]
async fn one_groups_slow_write_does_not_delay_another_groups_join() {
    let store = Arc::new(HookedStore::default());
    let (c, _stop) = running(store.clone());
    let gate = store.hold("slow");
    let (_, slow_sync) = join_then_spawn_sync(&c, "slow").await;
    settle().await;
    assert!(!slow_sync.is_finished(), "the slow group's write is held");

    let fast = tokio::time::timeout(Duration::from_secs(1), c.join("fast", static_request("i")))
        .await
        .expect("another group's slow write held up this JoinGroup");
    assert_eq!(fast.error, None);
    let (_, fast_sync) = join_then_spawn_sync(&c, "other").await;
    let fast_sync = tokio::time::timeout(Duration::from_secs(1), fast_sync)
        .await
        .expect("another group's slow write held up this group's write")
        .expect("sync task");
    assert_eq!(fast_sync.assignment, Bytes::from_static(b"p0"));

    gate.notify_one();
    let slow = slow_sync.await.expect("sync task");
    assert_eq!(slow.error, None);
    assert_eq!(slow.assignment, Bytes::from_static(b"p0"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_fails_the_sync_and_the_group_rebalances() {
    let store = Arc::new(HookedStore::default());
    let (c, _stop) = running(store.clone());
    store.fail(G, true);
    let (joined, sync) = join_then_spawn_sync(&c, G).await;
    let synced = sync.await.expect("sync task");
    assert_eq!(synced.error, Some(ResponseError::NotCoordinator));
    assert!(synced.assignment.is_empty());
    // The assignment never reached the store: the members go round again.
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
    assert_eq!(
        c.heartbeat(G, &joined.member_id, Some("i"), joined.generation),
        Some(ResponseError::RebalanceInProgress)
    );
    assert!(store.group_metadata().is_empty());

    store.fail(G, false);
    let mut again = static_request("i");
    again.member_id = joined.member_id.clone();
    let rejoined = c.join(G, again).await;
    assert_eq!(rejoined.generation, joined.generation + 1);
    let mut req = sync_request(&joined.member_id, rejoined.generation, &[]);
    req.instance_id = Some("i".into());
    assert_eq!(c.sync(G, req).await.error, None);
    assert_eq!(store.group_metadata().len(), 1, "stored this time");
}

#[tokio::test(start_paused = true)]
async fn a_write_over_a_newer_version_is_refused() {
    // Two coordinators sharing one store, as brokers on shared storage will,
    // both read the group (at version 0) before either writes it.
    let store: Arc<dyn OffsetStore> = Arc::new(MemoryOffsetStore::default());
    let (first, _stop1) = running(store.clone());
    let (second, _stop2) = running(store.clone());
    let (_, second_sync) = join_then_spawn_sync(&second, G).await;
    let (_, sync) = join_then_spawn_sync(&first, G).await;
    let first_synced = sync.await.expect("sync task");
    let second_synced = second_sync.await.expect("sync task");
    let outcomes = [first_synced.error, second_synced.error];
    // Exactly one of the two writes won; the other was refused, not lost.
    assert!(
        outcomes.contains(&None) && outcomes.contains(&Some(ResponseError::NotCoordinator)),
        "{outcomes:?}"
    );
    assert_eq!(store.group_metadata().len(), 1);
}
