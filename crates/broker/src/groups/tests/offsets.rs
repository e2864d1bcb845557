//! Commit checks, group deletion, OffsetDelete and retention.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::groups::group::now_ms;
use crate::groups::Committer;

fn entry(topic: &str, partition: i32, offset: i64, at: i64) -> OffsetEntry {
    OffsetEntry {
        topic: topic.into(),
        partition,
        committed: CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp: at,
            expire_timestamp: -1,
        },
    }
}

fn who(member_id: &str, generation: i32) -> Committer {
    Committer {
        member_id: member_id.into(),
        instance_id: None,
        generation,
    }
}

#[tokio::test(start_paused = true)]
async fn standalone_commits_are_allowed_for_empty_and_new_groups() {
    let (c, _stop) = coordinator();
    assert_eq!(
        c.commit(G, &who("", -1), vec![entry("t", 0, 5, now_ms())])
            .await,
        Ok(())
    );
    assert_eq!(c.store().fetch(G, "t", 0).map(|o| o.offset), Some(5));
    assert_eq!(state(&c), Some(GroupState::Empty));
    assert_eq!(
        c.commit("other", &who("m", 3), vec![]).await,
        Err(ResponseError::IllegalGeneration)
    );
}

#[tokio::test(start_paused = true)]
async fn member_commits_are_checked_against_the_generation() {
    let (c, _stop) = coordinator();
    let (a, generation) = stable_single(&c).await;
    let e = || vec![entry("t", 0, 1, now_ms())];
    assert_eq!(c.commit(G, &who(&a, generation), e()).await, Ok(()));
    assert_eq!(
        c.commit(G, &who(&a, generation + 1), e()).await,
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.commit(G, &who("", -1), e()).await,
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.commit(G, &who("ghost", generation), e()).await,
        Err(ResponseError::UnknownMemberId)
    );
    // During CompletingRebalance commits wait for the new assignment.
    let b = member_id(&c).await;
    let jb = spawn_join(&c, request(&b));
    settle().await;
    // PreparingRebalance still accepts the old generation's commits.
    assert_eq!(c.commit(G, &who(&a, generation), e()).await, Ok(()));
    let ja = c.join(G, request(&a)).await;
    jb.await.expect("join task");
    assert_eq!(
        c.commit(G, &who(&a, ja.generation), e()).await,
        Err(ResponseError::RebalanceInProgress)
    );
}

#[tokio::test(start_paused = true)]
async fn only_empty_groups_are_deleted() {
    let (c, _stop) = coordinator();
    let (a, generation) = stable_single(&c).await;
    c.commit(G, &who(&a, generation), vec![entry("t", 0, 1, now_ms())])
        .await
        .expect("commit");
    assert_eq!(c.delete_group(G).await, Some(ResponseError::NonEmptyGroup));
    assert_eq!(
        c.delete_group("missing").await,
        Some(ResponseError::GroupIdNotFound)
    );
    c.leave(
        G,
        &[crate::groups::LeavingMember {
            member_id: a,
            instance_id: None,
        }],
    )
    .await;
    assert_eq!(c.delete_group(G).await, None);
    assert!(c.describe(G).is_none());
    assert!(c.store().group_offsets(G).is_empty());
    assert!(c.store().group_metadata().is_empty());
}

fn subscription(topics: &[&str]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics
        .iter()
        .map(|t| StrBytes::from_string(t.to_string()))
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    sub.encode(&mut buf, 0).expect("encode subscription");
    buf.freeze()
}

#[tokio::test(start_paused = true)]
async fn offset_delete_refuses_subscribed_topics() {
    let (c, _stop) = coordinator();
    let id = member_id(&c).await;
    let mut req = request(&id);
    req.protocols = vec![("range".into(), subscription(&["t"]))];
    let joined = c.join(G, req).await;
    sync(&c, &id, joined.generation, &[]).await;
    c.commit(
        G,
        &who(&id, joined.generation),
        vec![entry("t", 0, 1, now_ms()), entry("u", 0, 2, now_ms())],
    )
    .await
    .expect("commit");
    let results = c
        .delete_offsets(G, vec![("t".into(), 0), ("u".into(), 0)])
        .await
        .expect("group exists");
    assert!(results.contains(&("t".into(), 0, Some(ResponseError::GroupSubscribedToTopic))));
    assert!(results.contains(&("u".into(), 0, None)));
    assert_eq!(c.store().fetch(G, "u", 0), None);
    assert!(c.store().fetch(G, "t", 0).is_some());
    assert_eq!(
        c.delete_offsets("missing", vec![]).await,
        Err(ResponseError::GroupIdNotFound)
    );
}

#[tokio::test(start_paused = true)]
async fn offsets_of_empty_groups_expire_after_retention() {
    let store = Arc::new(MemoryOffsetStore::default());
    let config = GroupConfig {
        offsets_retention: Duration::from_secs(60),
        ..config()
    };
    let (c, _stop) = coordinator_with(config, store.clone());
    let now = now_ms();
    c.commit(
        G,
        &who("", -1),
        vec![entry("t", 0, 1, now - 120_000), entry("t", 1, 1, now)],
    )
    .await
    .expect("commit");
    c.expire_offsets(now).await;
    assert_eq!(store.fetch(G, "t", 0), None, "old offset expired");
    assert!(store.fetch(G, "t", 1).is_some(), "recent offset kept");
    c.expire_offsets(now + 61_000).await;
    assert!(store.group_offsets(G).is_empty());
    assert!(
        c.describe(G).is_none(),
        "an empty group without offsets is removed"
    );

    // A group with members keeps its offsets.
    let (a, generation) = stable_single(&c).await;
    c.commit(
        G,
        &who(&a, generation),
        vec![entry("t", 0, 1, now - 120_000)],
    )
    .await
    .expect("commit");
    c.expire_offsets(now + 61_000).await;
    assert!(store.fetch(G, "t", 0).is_some());
}

#[tokio::test(start_paused = true)]
async fn deleting_a_topic_drops_its_offsets() {
    let (c, _stop) = coordinator();
    c.commit(
        G,
        &who("", -1),
        vec![entry("t", 0, 1, now_ms()), entry("u", 0, 1, now_ms())],
    )
    .await
    .expect("commit");
    c.delete_topic("t").await.expect("delete");
    assert_eq!(c.store().fetch(G, "t", 0), None);
    assert!(c.store().fetch(G, "u", 0).is_some());
}
