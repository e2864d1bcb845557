//! Timeouts: delayed initial rebalance, rebalance timeout, session expiry,
//! sync timeout, pending member ids.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::time::sleep;

use super::*;

#[tokio::test(start_paused = true)]
async fn initial_rebalance_waits_for_more_members() {
    let config = GroupConfig {
        initial_rebalance_delay: Duration::from_secs(3),
        ..config()
    };
    let (c, _stop) = coordinator_with(config, Default::default());
    let a = member_id(&c).await;
    let ja = spawn_join(&c, request(&a));
    sleep(Duration::from_secs(2)).await;
    assert!(
        !ja.is_finished(),
        "the first member waits the initial delay"
    );
    assert_eq!(state(&c), Some(GroupState::PreparingRebalance));
    let b = member_id(&c).await;
    let jb = spawn_join(&c, request(&b));
    // b arrived during the delay: the wait is extended by another delay.
    sleep(Duration::from_millis(1500)).await;
    assert!(!ja.is_finished(), "a new member extends the delay");
    sleep(Duration::from_secs(3)).await;
    let ja = ja.await.expect("join task");
    let jb = jb.await.expect("join task");
    assert_eq!(ja.generation, 1);
    assert_eq!(jb.generation, 1);
    assert_eq!(ja.members.len() + jb.members.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_dropped() {
    let (c, _stop) = coordinator();
    let (a, g1) = stable_single(&c).await;
    let b = member_id(&c).await;
    let jb = spawn_join(&c, request(&b));
    // a keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
    for _ in 0..4 {
        sleep(Duration::from_secs(5)).await;
        if jb.is_finished() {
            break;
        }
        assert_eq!(
            c.heartbeat(G, &a, None, g1),
            Some(ResponseError::RebalanceInProgress)
        );
    }
    sleep(Duration::from_secs(11)).await;
    let jb = jb.await.expect("join task");
    assert_eq!(jb.error, None);
    assert_eq!(jb.generation, g1 + 1);
    assert_eq!(jb.leader, b, "the absent leader was replaced");
    assert_eq!(jb.members.len(), 1);
    assert_eq!(
        c.heartbeat(G, &a, None, g1),
        Some(ResponseError::UnknownMemberId)
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_expires_after_its_session_timeout() {
    let (c, _stop) = coordinator();
    let (a, g1) = stable_single(&c).await;
    sleep(Duration::from_secs(9)).await;
    assert_eq!(state(&c), Some(GroupState::Stable));
    sleep(Duration::from_secs(2)).await;
    // Its only member gone, the group is empty at the next generation.
    let d = c.describe(G).expect("group");
    assert_eq!(d.state, GroupState::Empty);
    assert!(d.members.is_empty());
    assert_eq!(
        c.heartbeat(G, &a, None, g1),
        Some(ResponseError::UnknownMemberId)
    );
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_member_alive_and_others_expire() {
    let (c, _stop) = coordinator();
    let (a, b, g1, _, _) = second_member_joins(&c).await;
    let g2 = g1 + 1;
    sync(&c, &a, g2, &[]).await;
    sync(&c, &b, g2, &[]).await;
    // b heartbeats every 3 s; a stays silent and expires after 10 s.
    let mut saw_rebalance = false;
    for _ in 0..6 {
        sleep(Duration::from_secs(3)).await;
        if c.heartbeat(G, &b, None, g2) == Some(ResponseError::RebalanceInProgress) {
            saw_rebalance = true;
            break;
        }
    }
    assert!(saw_rebalance, "a's expiry starts a rebalance");
    let jb = c.join(G, request(&b)).await;
    assert_eq!(jb.generation, g2 + 1);
    assert_eq!(jb.members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_never_syncs_sends_followers_back_to_join() {
    let (c, _stop) = coordinator();
    let (_a, b, g1, _, _) = second_member_joins(&c).await;
    let follower = {
        let c = c.clone();
        let b = b.clone();
        tokio::spawn(async move { sync(&c, &b, g1 + 1, &[]).await })
    };
    // The leader's session (10 s) runs out; the waiting follower is kept.
    sleep(Duration::from_secs(11)).await;
    let follower = follower.await.expect("sync task");
    assert_eq!(follower.error, Some(ResponseError::RebalanceInProgress));
    let jb = c.join(G, request(&b)).await;
    assert_eq!(jb.leader, b);
}

#[tokio::test(start_paused = true)]
async fn an_unused_pending_member_id_expires() {
    let (c, _stop) = coordinator();
    let (a, _) = stable_single(&c).await;
    let pending = member_id(&c).await;
    sleep(Duration::from_secs(11)).await;
    // a kept no heartbeat either: rejoin from scratch and check the pending id is gone.
    let _ = a;
    let late = c.join(G, request(&pending)).await;
    assert_eq!(late.error, Some(ResponseError::UnknownMemberId));
}
