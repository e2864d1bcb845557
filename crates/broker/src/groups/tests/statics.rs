//! Static membership (KIP-345) and restoring groups from the store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;
use crate::groups::sync::LeavingMember;

fn static_request(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.to_string()),
        ..request(member_id)
    }
}

#[tokio::test(start_paused = true)]
async fn a_static_member_rejoins_without_a_rebalance() {
    let (c, _stop) = coordinator();
    // Static members skip MEMBER_ID_REQUIRED.
    let first = c.join(G, static_request("", "i-1")).await;
    assert_eq!(first.error, None);
    let old = first.member_id.clone();
    let synced = sync(&c, &old, first.generation, &[(old.as_str(), b"P0")]).await;
    assert_eq!(synced.error, None);

    // Restarted client: new member id, same generation and assignment.
    let again = c.join(G, static_request("", "i-1")).await;
    assert_eq!(again.error, None);
    assert_ne!(again.member_id, old);
    assert_eq!(again.generation, first.generation, "no rebalance");
    assert_eq!(
        again.leader, again.member_id,
        "leadership follows the instance"
    );
    assert!(again.skip_assignment);
    assert_eq!(state(&c), Some(GroupState::Stable));
    let mut req = sync_request(&again.member_id, again.generation, &[]);
    req.instance_id = Some("i-1".into());
    let synced = c.sync(G, req).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"P0"));

    // The old incarnation is fenced.
    assert_eq!(
        c.heartbeat(G, &old, Some("i-1"), first.generation),
        Some(ResponseError::FencedInstanceId)
    );
    assert_eq!(
        c.join(G, static_request(&old, "i-1")).await.error,
        Some(ResponseError::FencedInstanceId)
    );
    let leave = LeavingMember {
        member_id: old,
        instance_id: Some("i-1".into()),
    };
    assert_eq!(
        c.leave(G, &[leave]).await,
        vec![Some(ResponseError::FencedInstanceId)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_static_member_with_new_metadata_for_the_same_protocol_does_not_rebalance() {
    let (c, _stop) = coordinator();
    let first = c.join(G, static_request("", "i-1")).await;
    sync(&c, &first.member_id, first.generation, &[]).await;
    // A restarted librdkafka member owns no partitions: its metadata differs.
    let mut changed = static_request("", "i-1");
    changed.protocols = vec![("range".into(), Bytes::from_static(b"owns-nothing"))];
    let again = c.join(G, changed).await;
    assert_eq!(again.error, None);
    assert_eq!(again.generation, first.generation, "no rebalance");
    assert_eq!(state(&c), Some(GroupState::Stable));
}

#[tokio::test(start_paused = true)]
async fn a_static_member_that_changes_the_selected_protocol_triggers_a_rebalance() {
    let (c, _stop) = coordinator();
    let both = |first: &str, second: &str| {
        vec![
            (first.to_string(), Bytes::from_static(b"meta")),
            (second.to_string(), Bytes::from_static(b"meta")),
        ]
    };
    let mut req = static_request("", "i-1");
    req.protocols = both("range", "roundrobin");
    let first = c.join(G, req).await;
    assert_eq!(first.protocol_name.as_deref(), Some("range"));
    sync(&c, &first.member_id, first.generation, &[]).await;
    // Now preferring roundrobin: the group's selection changes.
    let mut changed = static_request("", "i-1");
    changed.protocols = both("roundrobin", "range");
    let again = c.join(G, changed).await;
    assert_eq!(again.error, None);
    assert_eq!(again.generation, first.generation + 1);
    assert_eq!(again.protocol_name.as_deref(), Some("roundrobin"));
}

#[tokio::test(start_paused = true)]
async fn a_static_member_is_removed_by_instance_id() {
    let (c, _stop) = coordinator();
    let first = c.join(G, static_request("", "i-1")).await;
    sync(&c, &first.member_id, first.generation, &[]).await;
    let leave = LeavingMember {
        member_id: String::new(),
        instance_id: Some("i-1".into()),
    };
    assert_eq!(c.leave(G, &[leave]).await, vec![None]);
    assert_eq!(state(&c), Some(GroupState::Empty));
}

#[tokio::test(start_paused = true)]
async fn a_restarted_coordinator_resumes_stable_groups() {
    let store = Arc::new(MemoryOffsetStore::default());
    let (c, stop) = coordinator_with(config(), store.clone());
    let (a, generation) = stable_single(&c).await;
    drop(stop);
    drop(c);

    let (c, _stop) = coordinator_with(config(), store);
    let d = c.describe(G).expect("group restored");
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"a0"));
    assert_eq!(c.heartbeat(G, &a, None, generation), None);
    let synced = sync(&c, &a, generation, &[]).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"a0"));
    // A dead member restored with the group expires like any other.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(state(&c), Some(GroupState::Empty));
    // The next generation follows the restored one.
    let n = member_id(&c).await;
    assert_eq!(c.join(G, request(&n)).await.generation, generation + 2);
}
