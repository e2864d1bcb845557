//! Transactional offsets on the coordinator: TxnOffsetCommit's member
//! checks, the outcome making pending offsets visible or dropping them,
//! expiry and deletion around them, and a restart through the real store.

use std::sync::Arc;
use std::time::Duration;

use fjord_storage::local_offsets::LocalOffsetStore;
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore};
use fjord_storage::StorageError;
use kafka_protocol::error::ResponseError;

use super::*;
use crate::groups::group::now_ms;
use crate::groups::{Committer, TxnCommitter};

const PRODUCER: TxnCommitter = TxnCommitter {
    producer_id: 42,
    producer_epoch: 3,
};

fn entry(topic: &str, partition: i32, offset: i64) -> OffsetEntry {
    OffsetEntry {
        topic: topic.into(),
        partition,
        committed: CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp: now_ms(),
            expire_timestamp: -1,
        },
    }
}

fn who(member_id: &str, instance_id: Option<&str>, generation: i32) -> Committer {
    Committer {
        member_id: member_id.into(),
        instance_id: instance_id.map(str::to_string),
        generation,
    }
}

fn committed(c: &GroupCoordinator, topic: &str, partition: i32) -> Option<i64> {
    c.store().fetch(G, topic, partition).map(|o| o.offset)
}

#[tokio::test(start_paused = true)]
async fn without_a_generation_any_group_accepts_and_an_unknown_one_is_created() {
    let (c, _stop) = coordinator();
    let e = || vec![entry("t", 0, 7)];
    // v0-v2 carry no generation: accepted for a new group...
    assert_eq!(
        c.commit_transactional(G, &who("", None, -1), PRODUCER, e())
            .await,
        Ok(())
    );
    assert_eq!(state(&c), Some(GroupState::Empty));
    assert_eq!(committed(&c, "t", 0), None, "pending, not committed");
    assert_eq!(c.pending_partitions(G).len(), 1);
    // ...and for a Stable one (unlike a plain commit).
    let (_, _) = stable_single(&c).await;
    assert_eq!(
        c.commit_transactional(G, &who("", None, -1), PRODUCER, e())
            .await,
        Ok(())
    );
    // A generation for a group the coordinator does not know.
    assert_eq!(
        c.commit_transactional("other", &who("m", None, 1), PRODUCER, e())
            .await,
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.commit_transactional("", &who("", None, -1), PRODUCER, e())
            .await,
        Err(ResponseError::InvalidGroupId)
    );
}

#[tokio::test(start_paused = true)]
async fn members_are_checked_as_kafka_checks_a_transactional_commit() {
    let (c, _stop) = coordinator();
    let (a, generation) = stable_single(&c).await;
    let e = || vec![entry("t", 0, 1)];
    assert_eq!(
        c.commit_transactional(G, &who(&a, None, generation), PRODUCER, e())
            .await,
        Ok(())
    );
    assert_eq!(
        c.commit_transactional(G, &who(&a, None, generation + 1), PRODUCER, e())
            .await,
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.commit_transactional(G, &who("ghost", None, generation), PRODUCER, e())
            .await,
        Err(ResponseError::UnknownMemberId)
    );
    // An instance id the group does not know.
    assert_eq!(
        c.commit_transactional(G, &who(&a, Some("i-9"), generation), PRODUCER, e())
            .await,
        Err(ResponseError::UnknownMemberId)
    );
    // During CompletingRebalance a transactional commit is accepted (a
    // plain one gets REBALANCE_IN_PROGRESS).
    let b = member_id(&c).await;
    let jb = spawn_join(&c, request(&b));
    settle().await;
    let ja = c.join(G, request(&a)).await;
    jb.await.expect("join task");
    assert_eq!(state(&c), Some(GroupState::CompletingRebalance));
    assert_eq!(
        c.commit_transactional(G, &who(&a, None, ja.generation), PRODUCER, e())
            .await,
        Ok(())
    );
}

#[tokio::test(start_paused = true)]
async fn a_replaced_static_member_is_fenced() {
    let (c, _stop) = coordinator();
    let mut first = request("");
    first.instance_id = Some("i-1".into());
    let joined = c.join(G, first.clone()).await;
    let old = joined.member_id.clone();
    let mut req = sync_request(&old, joined.generation, &[]);
    req.instance_id = Some("i-1".into());
    c.sync(G, req).await;
    // The same instance joins again with a new member id.
    let again = c.join(G, first).await;
    assert_ne!(again.member_id, old);
    assert_eq!(
        c.commit_transactional(
            G,
            &who(&old, Some("i-1"), joined.generation),
            PRODUCER,
            vec![entry("t", 0, 1)]
        )
        .await,
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(
        c.commit_transactional(
            G,
            &who(&again.member_id, Some("i-1"), again.generation),
            PRODUCER,
            vec![entry("t", 0, 1)]
        )
        .await,
        Ok(())
    );
}

#[tokio::test(start_paused = true)]
async fn commit_makes_pending_offsets_visible_and_abort_drops_them() {
    let (c, _stop) = coordinator();
    let anyone = who("", None, -1);
    c.commit(G, &anyone, vec![entry("t", 0, 1)]).await.unwrap();
    c.commit_transactional(G, &anyone, PRODUCER, vec![entry("t", 0, 10)])
        .await
        .unwrap();
    let other = TxnCommitter {
        producer_id: 43,
        producer_epoch: 0,
    };
    c.commit_transactional(G, &anyone, other, vec![entry("t", 1, 20)])
        .await
        .unwrap();
    assert_eq!(
        c.pending_partitions(G),
        [("t".to_string(), 0), ("t".to_string(), 1)].into()
    );
    assert_eq!(committed(&c, "t", 0), Some(1));

    c.complete_transaction(G, 42, 3, true).await.unwrap();
    assert_eq!(committed(&c, "t", 0), Some(10));
    c.complete_transaction(G, 43, 0, false).await.unwrap();
    assert_eq!(committed(&c, "t", 1), None);
    assert!(c.pending_partitions(G).is_empty());
    // Re-sent outcomes change nothing.
    c.complete_transaction(G, 42, 3, true).await.unwrap();
    c.complete_transaction(G, 43, 0, true).await.unwrap();
    assert_eq!(committed(&c, "t", 1), None);

    // A zombie's marker (older epoch than the pending offsets) is refused.
    c.commit_transactional(G, &anyone, PRODUCER, vec![entry("t", 2, 5)])
        .await
        .unwrap();
    assert!(matches!(
        c.complete_transaction(G, 42, 2, true).await,
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert_eq!(
        c.commit_transactional(
            G,
            &anyone,
            TxnCommitter {
                producer_id: 42,
                producer_epoch: 2
            },
            vec![entry("t", 2, 6)]
        )
        .await,
        Err(ResponseError::InvalidProducerEpoch)
    );
}

#[tokio::test(start_paused = true)]
async fn pending_offsets_hold_off_expiry_and_group_removal() {
    let store = Arc::new(MemoryOffsetStore::default());
    let config = GroupConfig {
        offsets_retention: Duration::from_secs(60),
        ..config()
    };
    let (c, _stop) = coordinator_with(config, store.clone());
    let anyone = who("", None, -1);
    c.commit(G, &anyone, vec![entry("t", 0, 1), entry("t", 1, 1)])
        .await
        .unwrap();
    c.commit_transactional(G, &anyone, PRODUCER, vec![entry("t", 0, 2)])
        .await
        .unwrap();
    let later = now_ms() + 120_000;
    c.expire_offsets(later).await;
    assert_eq!(
        committed(&c, "t", 0),
        Some(1),
        "a transaction may replace it"
    );
    assert_eq!(committed(&c, "t", 1), None, "expired");
    c.complete_transaction(G, 42, 3, false).await.unwrap();
    c.expire_offsets(later).await;
    assert!(store.group_offsets(G).is_empty());
    assert!(c.describe(G).is_none());

    // A group with nothing but pending offsets stays.
    c.commit_transactional(G, &anyone, PRODUCER, vec![entry("t", 0, 3)])
        .await
        .unwrap();
    c.expire_offsets(later + 120_000).await;
    assert!(c.describe(G).is_some());
    c.complete_transaction(G, 42, 3, true).await.unwrap();
    assert_eq!(committed(&c, "t", 0), Some(3));
}

#[tokio::test(start_paused = true)]
async fn deleting_the_group_or_offsets_drops_pending_ones() {
    let (c, _stop) = coordinator();
    let anyone = who("", None, -1);
    c.commit_transactional(
        G,
        &anyone,
        PRODUCER,
        vec![entry("t", 0, 1), entry("u", 0, 1)],
    )
    .await
    .unwrap();
    let results = c
        .delete_offsets(G, vec![("u".into(), 0)])
        .await
        .expect("group exists");
    assert_eq!(results, vec![("u".to_string(), 0, None)]);
    assert_eq!(c.pending_partitions(G), [("t".to_string(), 0)].into());
    assert_eq!(c.delete_group(G).await, None);
    assert!(c.pending_partitions(G).is_empty());
    // The outcome arriving afterwards brings nothing back.
    c.complete_transaction(G, 42, 3, true).await.unwrap();
    assert_eq!(committed(&c, "t", 0), None);
    assert!(c.describe(G).is_none());
}

#[tokio::test(start_paused = true)]
async fn pending_offsets_survive_a_restart_through_the_store_files() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Arc::new(LocalOffsetStore::open(dir.path()).unwrap());
        let c = GroupCoordinator::new(config(), store);
        let anyone = who("", None, -1);
        c.commit(G, &anyone, vec![entry("t", 0, 1)]).await.unwrap();
        c.commit_transactional(G, &anyone, PRODUCER, vec![entry("t", 0, 10)])
            .await
            .unwrap();
        c.commit_transactional("only-pending", &anyone, PRODUCER, vec![entry("t", 0, 5)])
            .await
            .unwrap();
    }
    let store = Arc::new(LocalOffsetStore::open(dir.path()).unwrap());
    let c = GroupCoordinator::new(config(), store);
    assert!(c.describe("only-pending").is_some(), "group loaded");
    assert_eq!(c.pending_partitions(G), [("t".to_string(), 0)].into());
    assert_eq!(committed(&c, "t", 0), Some(1));
    // The transaction coordinator re-sends the outcome after its restart.
    c.complete_transaction(G, 42, 3, true).await.unwrap();
    c.complete_transaction("only-pending", 42, 3, false)
        .await
        .unwrap();
    drop(c);
    let store = Arc::new(LocalOffsetStore::open(dir.path()).unwrap());
    let c = GroupCoordinator::new(config(), store);
    assert_eq!(committed(&c, "t", 0), Some(10));
    assert!(c.pending_partitions(G).is_empty());
    assert!(c.pending_partitions("only-pending").is_empty());
}
