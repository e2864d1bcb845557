//! Joining, syncing, heartbeats, leaving and their errors.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;
use crate::groups::sync::LeavingMember;

#[tokio::test(start_paused = true)]
async fn first_member_needs_an_id_then_leads_alone() {
    let (c, _stop) = coordinator();
    let id = member_id(&c).await;
    assert_eq!(state(&c), Some(GroupState::Empty), "pending member only");
    let joined = c.join(G, request(&id)).await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation, 1);
    assert_eq!(joined.leader, id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, Bytes::from_static(b"meta"));
    assert_eq!(state(&c), Some(GroupState::CompletingRebalance));
    let synced = sync(&c, &id, 1, &[(id.as_str(), b"mine")]).await;
    assert_eq!(synced.error, None);
    assert_eq!(synced.assignment, Bytes::from_static(b"mine"));
    assert_eq!(state(&c), Some(GroupState::Stable));
    assert_eq!(c.heartbeat(G, &id, None, 1), None);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_joins() {
    let (c, stop) = coordinator();
    let (_a, _) = stable_single(&c).await;
    let b = member_id(&c).await;
    let jb = spawn_join(&c, request(&b));
    settle().await;
    assert!(!jb.is_finished());
    stop.send(true).expect("timers running");
    let jb = jb.await.expect("join task");
    assert_eq!(jb.error, Some(ResponseError::NotCoordinator));
}

#[tokio::test(start_paused = true)]
async fn before_v4_a_member_joins_without_the_id_round() {
    let (c, _stop) = coordinator();
    let mut req = request("");
    req.require_known_member_id = false;
    let joined = c.join(G, req).await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation, 1);
    assert!(!joined.member_id.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_second_member_rebalances_and_the_follower_waits_for_the_leader() {
    let (c, _stop) = coordinator();
    let (a, gen1) = stable_single(&c).await;
    let b = member_id(&c).await;
    let b_join = spawn_join(&c, request(&b));
    settle().await;
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
    assert_eq!(
        c.heartbeat(G, &a, None, gen1),
        Some(ResponseError::RebalanceInProgress)
    );
    let a_join = c.join(G, request(&a)).await;
    let b_join = b_join.await.expect("join task");
    assert_eq!(a_join.generation, gen1 + 1);
    assert_eq!(b_join.generation, gen1 + 1);
    assert_eq!(a_join.leader, a, "the old leader stays leader");
    assert_eq!(a_join.members.len(), 2);
    assert!(b_join.members.is_empty(), "followers get no member list");

    let c2 = c.clone();
    let b2 = b.clone();
    let follower = tokio::spawn(async move { sync(&c2, &b2, gen1 + 1, &[]).await });
    settle().await;
    assert!(
        !follower.is_finished(),
        "follower waits for the leader's assignment"
    );
    let leader = sync(&c, &a, gen1 + 1, &[(a.as_str(), b"A"), (b.as_str(), b"B")]).await;
    assert_eq!(leader.assignment, Bytes::from_static(b"A"));
    let follower = follower.await.expect("sync task");
    assert_eq!(follower.error, None);
    assert_eq!(follower.assignment, Bytes::from_static(b"B"));
    assert_eq!(state(&c), Some(GroupState::Stable));
}

#[tokio::test(start_paused = true)]
async fn wrong_generation_unknown_member_and_rebalance_errors() {
    let (c, _stop) = coordinator();
    let (a, generation) = stable_single(&c).await;
    assert_eq!(
        c.heartbeat(G, &a, None, generation + 5),
        Some(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.heartbeat(G, "nobody", None, generation),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.heartbeat("other", &a, None, generation),
        Some(ResponseError::UnknownMemberId)
    );
    let synced = sync(&c, &a, generation + 1, &[]).await;
    assert_eq!(synced.error, Some(ResponseError::IllegalGeneration));
    let join = c.join(G, request("made-up")).await;
    assert_eq!(join.error, Some(ResponseError::UnknownMemberId));

    // A second member starts a rebalance: SyncGroup is refused meanwhile.
    let b = member_id(&c).await;
    let _pending = spawn_join(&c, request(&b));
    settle().await;
    let synced = sync(&c, &a, generation, &[]).await;
    assert_eq!(synced.error, Some(ResponseError::RebalanceInProgress));
}

#[tokio::test(start_paused = true)]
async fn protocol_type_and_names_must_match_the_group() {
    let (c, _stop) = coordinator();
    let (_a, _) = stable_single(&c).await;
    let mut other_type = request("");
    other_type.protocol_type = "connect".into();
    assert_eq!(
        c.join(G, other_type).await.error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut other_names = request("");
    other_names.protocols = vec![("roundrobin".into(), Bytes::new())];
    assert_eq!(
        c.join(G, other_names).await.error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    let mut none = request("");
    none.protocols.clear();
    assert_eq!(
        c.join("fresh", none).await.error,
        Some(ResponseError::InconsistentGroupProtocol)
    );
    assert!(
        c.describe("fresh").is_none(),
        "a refused join leaves no group behind"
    );
}

#[tokio::test(start_paused = true)]
async fn protocol_is_chosen_by_votes_among_common_ones() {
    let (c, _stop) = coordinator();
    let proto = |names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), Bytes::from(n.to_string())))
            .collect::<Vec<_>>()
    };
    let a = member_id(&c).await;
    let mut ra = request(&a);
    ra.protocols = proto(&["cooperative-sticky", "range"]);
    // a alone: its first choice.
    assert_eq!(
        c.join(G, ra.clone()).await.protocol_name.as_deref(),
        Some("cooperative-sticky")
    );
    let b = member_id(&c).await;
    let mut rb = request(&b);
    rb.protocols = proto(&["range", "roundrobin"]);
    let jb = spawn_join(&c, rb);
    settle().await;
    let ja = c.join(G, ra).await;
    let jb = jb.await.expect("join task");
    // Only "range" is common.
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    assert_eq!(jb.protocol_name.as_deref(), Some("range"));
    let leader_view = if ja.members.is_empty() { &jb } else { &ja };
    assert!(leader_view
        .members
        .iter()
        .all(|m| m.metadata == Bytes::from_static(b"range")));
}

#[tokio::test(start_paused = true)]
async fn session_timeout_must_be_within_bounds() {
    let (c, _stop) = coordinator();
    let mut short = request("");
    short.session_timeout = Duration::from_millis(100);
    assert_eq!(
        c.join(G, short).await.error,
        Some(ResponseError::InvalidSessionTimeout)
    );
    let mut long = request("");
    long.session_timeout = Duration::from_secs(3600);
    assert_eq!(
        c.join(G, long).await.error,
        Some(ResponseError::InvalidSessionTimeout)
    );
    assert_eq!(
        c.join("", request("")).await.error,
        Some(ResponseError::InvalidGroupId)
    );
}

#[tokio::test(start_paused = true)]
async fn group_max_size_is_enforced() {
    let config = GroupConfig {
        max_size: 1,
        ..config()
    };
    let (c, _stop) = coordinator_with(config, Default::default());
    let (_a, _) = stable_single(&c).await;
    assert_eq!(
        c.join(G, request("")).await.error,
        Some(ResponseError::GroupMaxSizeReached)
    );
}

#[tokio::test(start_paused = true)]
async fn batch_leave_rebalances_once_and_reports_each_member() {
    let (c, _stop) = coordinator();
    let (a, b, g1, ja, jb) = second_member_joins(&c).await;
    assert_eq!(ja.generation, g1 + 1);
    assert_eq!(jb.generation, g1 + 1);
    let leave = |id: &str| LeavingMember {
        member_id: id.to_string(),
        instance_id: None,
    };
    let errors = c.leave(G, &[leave(&a), leave(&b), leave("ghost")]).await;
    assert_eq!(
        errors,
        vec![None, None, Some(ResponseError::UnknownMemberId)]
    );
    let d = c.describe(G).expect("group");
    assert_eq!(d.state, GroupState::Empty);
    assert!(d.members.is_empty());
    // The parked SyncGroup-less members are gone; a new member starts at the next generation.
    let n = member_id(&c).await;
    assert_eq!(c.join(G, request(&n)).await.generation, g1 + 3);
    assert_eq!(
        c.leave("missing", &[leave(&n)]).await,
        vec![Some(ResponseError::UnknownMemberId)]
    );
}

#[tokio::test(start_paused = true)]
async fn leaving_during_completing_rebalance_sends_followers_back() {
    let (c, _stop) = coordinator();
    let (a, b, g1, _, _) = second_member_joins(&c).await;
    let c2 = c.clone();
    let b2 = b.clone();
    let follower = tokio::spawn(async move { sync(&c2, &b2, g1 + 1, &[]).await });
    settle().await;
    let leave = LeavingMember {
        member_id: a.clone(),
        instance_id: None,
    };
    assert_eq!(c.leave(G, &[leave]).await, vec![None]);
    let follower = follower.await.expect("sync task");
    assert_eq!(follower.error, Some(ResponseError::RebalanceInProgress));
}
