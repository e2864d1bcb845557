//! Known members joining a Stable group again (Kafka's doJoinGroup rules),
//! and the join order behind the static-membership test that failed now
//! and then.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;

fn static_request(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.to_string()),
        ..request(member_id)
    }
}

fn static_sync(member_id: &str, instance: &str, generation: i32) -> SyncRequest {
    let mut req = sync_request(member_id, generation, &[]);
    req.instance_id = Some(instance.to_string());
    req
}

/// Two static members, Stable: (leader "a", follower "b", generation).
async fn two_static_members(c: &Arc<GroupCoordinator>) -> (String, String, i32) {
    let a = c.join(G, static_request("", "a")).await;
    let b = spawn_join(c, static_request("", "b"));
    settle().await;
    let a2 = c.join(G, static_request(&a.member_id, "a")).await;
    let b = b.await.expect("join task");
    assert_eq!(a2.generation, b.generation);
    assert_eq!(a2.leader, a.member_id);
    let assignments: &[(&str, &'static [u8])] = &[(&a.member_id, b"a"), (&b.member_id, b"b")];
    let mut leader = sync_request(&a.member_id, a2.generation, assignments);
    leader.instance_id = Some("a".into());
    let follower = {
        let c = c.clone();
        let req = static_sync(&b.member_id, "b", b.generation);
        tokio::spawn(async move { c.sync(G, req).await })
    };
    settle().await;
    assert_eq!(c.sync(G, leader).await.error, None);
    assert_eq!(follower.await.expect("sync task").error, None);
    assert_eq!(state(c), Some(GroupState::Stable));
    (a.member_id, b.member_id, a2.generation)
}

/// The rdkafka test `static_members_rejoin_without_a_rebalance` saw member b
/// revoke partitions about one run in five. Its logs show why: both members
/// start together and b's first JoinGroup sometimes arrived first (a's client
/// took ~100 ms longer to connect). With no initial rebalance delay b then
/// forms a generation alone and owns every partition until a joins, which
/// takes them back: a revocation of b that Kafka makes just the same, and
/// that has nothing to do with a's later restart. Reproduced here by joining
/// b first; a's restart then leaves b's generation alone.
#[tokio::test(start_paused = true)]
async fn the_member_that_joins_first_owns_everything_until_the_second_joins() {
    let (c, _stop) = coordinator();
    let b = c.join(G, static_request("", "b")).await;
    assert_eq!(b.generation, 1, "b forms a generation alone");
    assert_eq!(b.leader, b.member_id);
    let mut all = sync_request(&b.member_id, 1, &[]);
    all.instance_id = Some("b".into());
    all.assignments
        .insert(b.member_id.clone(), Bytes::from_static(b"all six"));
    assert_eq!(
        c.sync(G, all).await.assignment,
        Bytes::from_static(b"all six")
    );

    let a = spawn_join(&c, static_request("", "a"));
    settle().await;
    // b hears of the rebalance and must give its partitions up (eager).
    assert_eq!(
        c.heartbeat(G, &b.member_id, Some("b"), 1),
        Some(ResponseError::RebalanceInProgress)
    );
    let b2 = c.join(G, static_request(&b.member_id, "b")).await;
    let a = a.await.expect("join task");
    assert_eq!((a.generation, b2.generation), (2, 2));
    let mut split = sync_request(&b.member_id, 2, &[]);
    split.instance_id = Some("b".into());
    split
        .assignments
        .insert(b.member_id.clone(), Bytes::from_static(b"three"));
    split
        .assignments
        .insert(a.member_id.clone(), Bytes::from_static(b"three more"));
    let a_sync = {
        let c = c.clone();
        let req = static_sync(&a.member_id, "a", 2);
        tokio::spawn(async move { c.sync(G, req).await })
    };
    settle().await;
    assert_eq!(c.sync(G, split).await.error, None);
    assert_eq!(a_sync.await.expect("sync task").error, None);

    // a restarts (no LeaveGroup from a static member): same generation, and
    // b, heartbeating at generation 2, sees no rebalance.
    let a_again = c.join(G, static_request("", "a")).await;
    assert_eq!(a_again.error, None);
    assert_eq!(a_again.generation, 2);
    let synced = c.sync(G, static_sync(&a_again.member_id, "a", 2)).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"three more"));
    assert_eq!(c.heartbeat(G, &b.member_id, Some("b"), 2), None);
    assert_eq!(state(&c), Some(GroupState::Stable));
}

#[tokio::test(start_paused = true)]
async fn a_follower_joining_again_unchanged_gets_the_current_generation() {
    let (c, _stop) = coordinator();
    let (a, b, generation) = two_static_members(&c).await;
    let again = c.join(G, static_request(&b, "b")).await;
    assert_eq!(again.error, None);
    assert_eq!(again.generation, generation, "no rebalance");
    assert_eq!(again.leader, a);
    assert!(again.members.is_empty(), "a follower gets no member list");
    assert_eq!(state(&c), Some(GroupState::Stable));
    assert_eq!(c.heartbeat(G, &a, Some("a"), generation), None);
    let synced = c.sync(G, static_sync(&b, "b", generation)).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"b"));
}

#[tokio::test(start_paused = true)]
async fn a_follower_with_new_metadata_or_the_leader_joining_again_rebalances() {
    let (c, _stop) = coordinator();
    let (a, b, generation) = two_static_members(&c).await;
    let mut changed = static_request(&b, "b");
    changed.protocols = vec![("range".into(), Bytes::from_static(b"new subscription"))];
    let b_join = spawn_join(&c, changed);
    settle().await;
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
    let a_join = c.join(G, static_request(&a, "a")).await;
    assert_eq!(a_join.generation, generation + 1);
    assert_eq!(b_join.await.expect("join task").generation, generation + 1);
    let mut leader = sync_request(&a, generation + 1, &[]);
    leader.instance_id = Some("a".into());
    let b_sync = {
        let c = c.clone();
        let req = static_sync(&b, "b", generation + 1);
        tokio::spawn(async move { c.sync(G, req).await })
    };
    settle().await;
    c.sync(G, leader).await;
    b_sync.await.expect("sync task");
    assert_eq!(state(&c), Some(GroupState::Stable));

    // The leader joining again, unchanged, wants the assignment redone.
    let a_join = spawn_join(&c, static_request(&a, "a"));
    settle().await;
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
    assert_eq!(
        c.heartbeat(G, &b, Some("b"), generation + 1),
        Some(ResponseError::RebalanceInProgress)
    );
    c.join(G, static_request(&b, "b")).await;
    assert_eq!(a_join.await.expect("join task").generation, generation + 2);
}

#[tokio::test(start_paused = true)]
async fn a_static_leader_restarting_before_v9_is_not_told_it_leads() {
    let (c, _stop) = coordinator();
    let (a, b, generation) = two_static_members(&c).await;
    let mut restarted = static_request("", "a");
    restarted.supports_skip_assignment = false;
    let again = c.join(G, restarted).await;
    assert_eq!(again.error, None);
    assert_ne!(again.member_id, a);
    assert_eq!(again.generation, generation, "no rebalance");
    // As Kafka answers: the old leader id, so the client runs no assignment.
    assert_eq!(again.leader, a);
    assert!(again.members.is_empty());
    assert!(!again.skip_assignment);
    let synced = c
        .sync(G, static_sync(&again.member_id, "a", generation))
        .await;
    assert_eq!(synced.assignment, Bytes::from_static(b"a"));
    assert_eq!(c.heartbeat(G, &b, Some("b"), generation), None);
}
