//! Pending transactional offsets: invisible until their transaction
//! commits, dropped by an abort, kept through a restart and a compaction,
//! and ordered against plain commits as Kafka orders them.

use super::codec::{decode_payload, encode_frame, Mutation};
use super::{LocalOffsetStore, MemoryOffsetStore};
use crate::offsets::{CommittedOffset, OffsetEntry, OffsetStore, PendingOffsets};
use crate::StorageError;

fn entry(topic: &str, partition: i32, offset: i64) -> OffsetEntry {
    OffsetEntry {
        topic: topic.to_string(),
        partition,
        committed: CommittedOffset {
            offset,
            leader_epoch: 1,
            metadata: Some(format!("m{offset}")),
            commit_timestamp: 1_700_000_000_000 + offset,
            expire_timestamp: -1,
        },
    }
}

fn committed(store: &dyn OffsetStore, group: &str, topic: &str, partition: i32) -> Option<i64> {
    store.fetch(group, topic, partition).map(|c| c.offset)
}

/// (producer id, epoch, [(topic, partition, offset)]) of the group.
type Pending = (i64, i16, Vec<(String, i32, i64)>);

fn pending(store: &dyn OffsetStore, group: &str) -> Vec<Pending> {
    store
        .pending_offsets(group)
        .into_iter()
        .map(
            |PendingOffsets {
                 producer_id,
                 producer_epoch,
                 offsets,
             }| {
                let offsets = offsets
                    .into_iter()
                    .map(|e| (e.topic, e.partition, e.committed.offset))
                    .collect();
                (producer_id, producer_epoch, offsets)
            },
        )
        .collect()
}

#[test]
fn codec_round_trips_transaction_mutations() {
    let mutations = vec![
        Mutation::PendingCommit {
            group: "g".into(),
            producer_id: 7_000_000_001,
            producer_epoch: i16::MAX,
            offsets: vec![entry("t", 0, 1), entry("u", 3, 9)],
        },
        Mutation::EndTransaction {
            group: "g".into(),
            producer_id: 7,
            producer_epoch: 0,
            commit: true,
        },
        Mutation::EndTransaction {
            group: "g".into(),
            producer_id: -1,
            producer_epoch: -1,
            commit: false,
        },
    ];
    for mutation in mutations {
        let mut frame = Vec::new();
        encode_frame(&mutation, &mut frame).unwrap();
        assert_eq!(decode_payload(&frame[8..]).unwrap(), mutation);
        for cut in 0..frame.len() - 8 {
            assert!(decode_payload(&frame[8..8 + cut]).is_err());
        }
    }
    // An outcome byte other than 0 or 1 is not ours.
    let mut frame = Vec::new();
    let end = Mutation::EndTransaction {
        group: "g".into(),
        producer_id: 1,
        producer_epoch: 1,
        commit: true,
    };
    encode_frame(&end, &mut frame).unwrap();
    let last = frame.len() - 1;
    frame[last] = 2;
    assert!(decode_payload(&frame[8..]).is_err());
}

/// Commit, abort and idempotence, against any store.
async fn commit_and_abort(store: &dyn OffsetStore) {
    store.commit("g", vec![entry("t", 0, 5)]).await.unwrap();
    store
        .commit_pending("g", 1, 0, vec![entry("t", 0, 10), entry("t", 1, 11)])
        .await
        .unwrap();
    store
        .commit_pending("g", 2, 3, vec![entry("t", 2, 20)])
        .await
        .unwrap();
    // Pending offsets are not committed ones.
    assert_eq!(committed(store, "g", "t", 0), Some(5));
    assert_eq!(committed(store, "g", "t", 1), None);
    assert_eq!(store.group_offsets("g").len(), 1);
    assert_eq!(
        pending(store, "g"),
        vec![
            (1, 0, vec![("t".into(), 0, 10), ("t".into(), 1, 11)]),
            (2, 3, vec![("t".into(), 2, 20)])
        ]
    );

    store.complete_transaction("g", 1, 0, true).await.unwrap();
    assert_eq!(committed(store, "g", "t", 0), Some(10));
    assert_eq!(committed(store, "g", "t", 1), Some(11));
    store.complete_transaction("g", 2, 3, false).await.unwrap();
    assert_eq!(committed(store, "g", "t", 2), None);
    assert!(store.pending_offsets("g").is_empty());

    // A second outcome for a decided transaction changes nothing, even the
    // other outcome (the offsets are gone).
    store.commit("g", vec![entry("t", 0, 6)]).await.unwrap();
    store.complete_transaction("g", 1, 0, true).await.unwrap();
    store.complete_transaction("g", 2, 3, true).await.unwrap();
    store
        .complete_transaction("unknown", 9, 0, true)
        .await
        .unwrap();
    assert_eq!(committed(store, "g", "t", 0), Some(6));
    assert_eq!(committed(store, "g", "t", 2), None);
    assert_eq!(store.groups(), vec!["g"]);
}

#[tokio::test]
async fn commit_materializes_abort_drops_and_outcomes_are_idempotent() {
    commit_and_abort(&MemoryOffsetStore::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    commit_and_abort(&store).await;
    let before = store.group_offsets("g");
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.group_offsets("g"), before);
    assert!(store.pending_offsets("g").is_empty());
}

#[tokio::test]
async fn pending_offsets_survive_reopen_and_complete_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        store
            .commit_pending("only-pending", 4, 2, vec![entry("t", 0, 40)])
            .await
            .unwrap();
        store
            .commit_pending("g", 5, 0, vec![entry("t", 0, 50)])
            .await
            .unwrap();
        // A later TxnOffsetCommit of the same transaction adds and replaces.
        store
            .commit_pending("g", 5, 0, vec![entry("t", 0, 51), entry("t", 1, 52)])
            .await
            .unwrap();
    }
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    // A group with only pending offsets is still a group to load.
    assert_eq!(store.groups(), vec!["g", "only-pending"]);
    assert_eq!(
        pending(&store, "g"),
        vec![(5, 0, vec![("t".into(), 0, 51), ("t".into(), 1, 52)])]
    );
    assert_eq!(committed(&store, "g", "t", 0), None);
    store.complete_transaction("g", 5, 0, true).await.unwrap();
    store
        .complete_transaction("only-pending", 4, 2, false)
        .await
        .unwrap();
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(committed(&store, "g", "t", 0), Some(51));
    assert_eq!(committed(&store, "g", "t", 1), Some(52));
    assert!(store.pending_offsets("g").is_empty());
    assert_eq!(store.groups(), vec!["g"]);
}

/// Offsets Kafka would order by their records: t-0 has a plain commit
/// before producer 1's offset, t-1 one after it; on t-2 producer 2 records
/// before producer 3.
async fn record_mixed_commits(store: &dyn OffsetStore) {
    store.commit("g", vec![entry("t", 0, 1)]).await.unwrap();
    store
        .commit_pending("g", 1, 0, vec![entry("t", 0, 10), entry("t", 1, 10)])
        .await
        .unwrap();
    store.commit("g", vec![entry("t", 1, 2)]).await.unwrap();
    store
        .commit_pending("g", 2, 0, vec![entry("t", 2, 20)])
        .await
        .unwrap();
    store
        .commit_pending("g", 3, 7, vec![entry("t", 2, 30)])
        .await
        .unwrap();
}

/// Kafka keeps the newest record: the plain commit after the transaction's
/// offset wins over it, the one before loses; between two transactions the
/// one recorded later wins, whatever the order of their outcomes.
async fn complete_and_check_newest_wins(store: &dyn OffsetStore) {
    store.complete_transaction("g", 1, 0, true).await.unwrap();
    store.complete_transaction("g", 3, 7, true).await.unwrap();
    store.complete_transaction("g", 2, 0, true).await.unwrap();
    assert_eq!(committed(store, "g", "t", 0), Some(10));
    assert_eq!(committed(store, "g", "t", 1), Some(2));
    assert_eq!(committed(store, "g", "t", 2), Some(30));
}

#[tokio::test]
async fn newest_of_transactional_and_plain_commits_wins() {
    let memory = MemoryOffsetStore::default();
    record_mixed_commits(&memory).await;
    complete_and_check_newest_wins(&memory).await;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    record_mixed_commits(&store).await;
    complete_and_check_newest_wins(&store).await;
}

#[tokio::test]
async fn compaction_and_reopen_keep_the_order_of_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        // Other groups, so the snapshot's order is not one map's order.
        for i in 0..50 {
            store
                .commit(&format!("f{i}"), vec![entry("t", 2, i)])
                .await
                .unwrap();
        }
        record_mixed_commits(&store).await;
        store.compact().await.unwrap();
    }
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(pending(&store, "g").len(), 3);
    assert_eq!(pending(&store, "g")[2].1, 7, "epoch kept");
    complete_and_check_newest_wins(&store).await;
}

#[tokio::test]
async fn an_older_epoch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalOffsetStore::open(dir.path()).unwrap();
    let memory = MemoryOffsetStore::default();
    for store in [&local as &dyn OffsetStore, &memory] {
        store
            .commit_pending("g", 1, 5, vec![entry("t", 0, 10)])
            .await
            .unwrap();
        let zombie = store
            .commit_pending("g", 1, 4, vec![entry("t", 0, 99)])
            .await;
        assert!(matches!(zombie, Err(StorageError::InvalidProducerEpoch(_))));
        let old_marker = store.complete_transaction("g", 1, 4, false).await;
        assert!(matches!(
            old_marker,
            Err(StorageError::InvalidProducerEpoch(_))
        ));
        assert_eq!(pending(store, "g"), vec![(1, 5, vec![("t".into(), 0, 10)])]);
        // A marker at a newer epoch (transaction version 2 bumps it at
        // EndTxn) completes it.
        store.complete_transaction("g", 1, 6, true).await.unwrap();
        assert_eq!(committed(store, "g", "t", 0), Some(10));
    }
}

#[tokio::test]
async fn deletions_drop_pending_offsets_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    store
        .commit_pending(
            "g",
            1,
            0,
            vec![entry("a", 0, 1), entry("a", 1, 1), entry("b", 0, 1)],
        )
        .await
        .unwrap();
    store
        .commit_pending("h", 2, 0, vec![entry("b", 0, 2)])
        .await
        .unwrap();
    store
        .commit_pending("gone", 3, 0, vec![entry("c", 0, 3)])
        .await
        .unwrap();
    // OffsetDelete (and expiry) of a partition with only a pending offset.
    store.delete_offsets("g", &[("a".into(), 1)]).await.unwrap();
    assert_eq!(
        pending(&store, "g"),
        vec![(1, 0, vec![("a".into(), 0, 1), ("b".into(), 0, 1)])]
    );
    store.delete_topic("b").await.unwrap();
    assert_eq!(pending(&store, "g"), vec![(1, 0, vec![("a".into(), 0, 1)])]);
    assert!(store.pending_offsets("h").is_empty());
    store.delete_group("gone").await.unwrap();
    assert_eq!(store.groups(), vec!["g"]);
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.groups(), vec!["g"]);
    // The outcomes still come; what was deleted stays deleted.
    store.complete_transaction("g", 1, 0, true).await.unwrap();
    store.complete_transaction("h", 2, 0, true).await.unwrap();
    store
        .complete_transaction("gone", 3, 0, true)
        .await
        .unwrap();
    assert_eq!(committed(&store, "g", "a", 0), Some(1));
    assert_eq!(committed(&store, "g", "a", 1), None);
    assert_eq!(committed(&store, "h", "b", 0), None);
    assert_eq!(store.groups(), vec!["g"]);
}
