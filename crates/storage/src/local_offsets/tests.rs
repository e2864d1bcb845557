use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::codec::{decode_payload, encode_frame, Mutation};
use super::files::{log_path, OFFSETS_DIR};
use super::{LocalOffsetOptions, LocalOffsetStore};
use crate::offsets::{CommittedOffset, OffsetEntry, OffsetStore};
use crate::StorageError;

fn entry(topic: &str, partition: i32, offset: i64) -> OffsetEntry {
    OffsetEntry {
        topic: topic.to_string(),
        partition,
        committed: CommittedOffset {
            offset,
            leader_epoch: 3,
            metadata: Some(format!("m{offset}")),
            commit_timestamp: 1_700_000_000_000 + offset,
            expire_timestamp: -1,
        },
    }
}

fn offsets_of(store: &LocalOffsetStore, group: &str) -> Vec<(String, i32, i64)> {
    store
        .group_offsets(group)
        .into_iter()
        .map(|e| (e.topic, e.partition, e.committed.offset))
        .collect()
}

fn current_log(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir.join(OFFSETS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "exactly one log file: {logs:?}");
    logs.pop().unwrap()
}

/// A few of every mutation, used by several tests.
async fn populate(store: &LocalOffsetStore) {
    store
        .commit(
            "g1",
            vec![entry("a", 0, 10), entry("a", 1, 11), entry("b", 0, 5)],
        )
        .await
        .unwrap();
    store.commit("g2", vec![entry("a", 0, 7)]).await.unwrap();
    store.commit("g1", vec![entry("a", 0, 12)]).await.unwrap();
    store
        .store_group_metadata("g3", Some(vec![0, 1, 255]), 0)
        .await
        .unwrap();
    store
        .store_group_metadata("g1", Some(b"gen-1".to_vec()), 0)
        .await
        .unwrap();
}

#[test]
fn codec_round_trips_every_mutation() {
    let mut no_metadata = entry("t", 1, 2);
    no_metadata.committed.metadata = None;
    let mutations = vec![
        Mutation::Commit {
            group: "g".into(),
            offsets: vec![entry("t", 0, 1), no_metadata],
        },
        Mutation::DeleteOffsets {
            group: "g".into(),
            partitions: vec![("t".into(), 0), ("u".into(), 9)],
        },
        Mutation::DeleteGroup { group: "g".into() },
        Mutation::DeleteTopic { topic: "t".into() },
        Mutation::SetMetadata {
            group: "g".into(),
            metadata: vec![1, 2, 3],
        },
        Mutation::ClearMetadata { group: "g".into() },
    ];
    for mutation in mutations {
        let mut frame = Vec::new();
        encode_frame(&mutation, &mut frame).unwrap();
        assert_eq!(decode_payload(&frame[8..]).unwrap(), mutation);
        // Every cut of the payload is an error, never a panic.
        for cut in 0..frame.len() - 8 {
            assert!(decode_payload(&frame[8..8 + cut]).is_err());
        }
    }
}

#[tokio::test]
async fn commit_fetch_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert!(store.groups().is_empty());
    assert_eq!(store.fetch("g1", "a", 0), None);
    populate(&store).await;
    assert_eq!(store.fetch("g1", "a", 0), Some(entry("a", 0, 12).committed));
    assert_eq!(store.fetch("g1", "a", 2), None);
    assert_eq!(store.fetch("nope", "a", 0), None);
    assert_eq!(
        offsets_of(&store, "g1"),
        vec![("a".into(), 0, 12), ("a".into(), 1, 11), ("b".into(), 0, 5)]
    );
    assert_eq!(store.groups(), vec!["g1", "g2", "g3"]);
    assert_eq!(
        store.group_metadata(),
        vec![
            ("g1".to_string(), b"gen-1".to_vec()),
            ("g3".to_string(), vec![0, 1, 255])
        ]
    );
    // An empty commit is a no-op, not a group.
    store.commit("empty", vec![]).await.unwrap();
    assert_eq!(store.groups(), vec!["g1", "g2", "g3"]);
}

#[tokio::test]
async fn deletes_and_metadata_clear_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        populate(&store).await;
        store
            .delete_offsets("g1", &[("a".into(), 1), ("zz".into(), 0)])
            .await
            .unwrap();
        assert_eq!(
            offsets_of(&store, "g1"),
            vec![("a".into(), 0, 12), ("b".into(), 0, 5)]
        );
        store.delete_topic("a").await.unwrap();
        assert_eq!(offsets_of(&store, "g1"), vec![("b".into(), 0, 5)]);
        // g2 only had topic a: it has nothing left and is gone.
        assert_eq!(store.groups(), vec!["g1", "g3"]);
        let version = store.group_state_version("g3");
        store
            .store_group_metadata("g3", None, version)
            .await
            .unwrap();
        assert_eq!(store.groups(), vec!["g1"]);
        store.commit("g4", vec![entry("c", 0, 1)]).await.unwrap();
        store.delete_group("g1").await.unwrap();
        store.delete_group("unknown").await.unwrap();
        assert_eq!(store.groups(), vec!["g4"]);
        assert!(store.group_metadata().is_empty());
    }
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.groups(), vec!["g4"]);
    assert_eq!(offsets_of(&store, "g4"), vec![("c".into(), 0, 1)]);
    assert!(store.group_metadata().is_empty());
    assert_eq!(store.fetch("g1", "b", 0), None);
}

#[tokio::test]
async fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (groups, g1, metadata) = {
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        populate(&store).await;
        (
            store.groups(),
            store.group_offsets("g1"),
            store.group_metadata(),
        )
    };
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.groups(), groups);
    assert_eq!(store.group_offsets("g1"), g1);
    assert_eq!(store.group_metadata(), metadata);
}

#[tokio::test]
async fn torn_tail_is_cut_and_later_commits_work() {
    for damage in ["garbage", "cut", "bad crc"] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = LocalOffsetStore::open(dir.path()).unwrap();
            populate(&store).await;
            store.commit("last", vec![entry("x", 0, 99)]).await.unwrap();
        }
        let log = current_log(dir.path());
        let full = std::fs::metadata(&log).unwrap().len();
        let mut last = Vec::new();
        encode_frame(
            &Mutation::Commit {
                group: "last".into(),
                offsets: vec![entry("x", 0, 99)],
            },
            &mut last,
        )
        .unwrap();
        let last_len = last.len() as u64;
        let expected_len = match damage {
            "garbage" => {
                let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                f.write_all(&[0, 0, 0, 9, 1, 2, 3, 4, 5, 6]).unwrap();
                full
            }
            "cut" => {
                let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
                f.set_len(full - last_len / 2).unwrap();
                full - last_len
            }
            _ => {
                let mut bytes = std::fs::read(&log).unwrap();
                let n = bytes.len();
                bytes[n - 1] ^= 0xff;
                std::fs::write(&log, bytes).unwrap();
                full - last_len
            }
        };
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            expected_len,
            "{damage}"
        );
        assert_eq!(
            store.fetch("g1", "a", 0).map(|c| c.offset),
            Some(12),
            "{damage}"
        );
        assert_eq!(store.group_metadata().len(), 2, "{damage}");
        let kept_last = damage == "garbage";
        assert_eq!(store.fetch("last", "x", 0).is_some(), kept_last, "{damage}");
        store.commit("after", vec![entry("y", 0, 1)]).await.unwrap();
        drop(store);
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        assert_eq!(
            store.fetch("after", "y", 0).map(|c| c.offset),
            Some(1),
            "{damage}"
        );
        assert_eq!(
            store.fetch("g2", "a", 0).map(|c| c.offset),
            Some(7),
            "{damage}"
        );
    }
}

#[tokio::test]
async fn undecodable_record_with_valid_crc_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(LocalOffsetStore::open(dir.path()).unwrap());
    let payload = [42u8, 0, 0];
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    std::fs::write(log_path(&dir.path().join(OFFSETS_DIR), 0), frame).unwrap();
    assert!(LocalOffsetStore::open(dir.path()).is_err());
}

#[tokio::test]
async fn forced_compaction_rewrites_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    for i in 0..200 {
        store.commit("g1", vec![entry("a", 0, i)]).await.unwrap();
    }
    populate(&store).await;
    let (generation, before) = store.log_file().await;
    store.compact().await.unwrap();
    let (new_generation, after) = store.log_file().await;
    assert_eq!(new_generation, generation + 1);
    assert!(after * 10 < before, "{after} vs {before}");
    assert_eq!(
        current_log(dir.path()),
        log_path(&dir.path().join(OFFSETS_DIR), 1)
    );
    assert_eq!(
        std::fs::metadata(current_log(dir.path())).unwrap().len(),
        after
    );
    let (groups, g1, metadata) = (
        store.groups(),
        store.group_offsets("g1"),
        store.group_metadata(),
    );
    // Appends after compaction go to the new generation.
    store.commit("g5", vec![entry("e", 2, 3)]).await.unwrap();
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.group_offsets("g1"), g1);
    assert_eq!(store.group_metadata(), metadata);
    assert_eq!(store.fetch("g5", "e", 2).map(|c| c.offset), Some(3));
    let mut expected = groups;
    expected.push("g5".into());
    assert_eq!(store.groups(), expected);
}

#[tokio::test]
async fn compaction_triggers_on_size_and_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalOffsetOptions {
        compaction_min_bytes: 16 << 10,
    };
    let store = LocalOffsetStore::open_with(dir.path(), options).unwrap();
    for i in 0..2000 {
        store
            .commit("g", vec![entry("t", (i % 4) as i32, i)])
            .await
            .unwrap();
    }
    let (generation, len) = store.log_file().await;
    assert!(generation >= 1, "compacted at least once");
    assert!(len < 2 * (16 << 10), "log stays bounded: {len}");
    let expected = offsets_of(&store, "g");
    drop(store);
    // Stray temp file from a crash mid-snapshot, and a stale lower generation.
    let offsets_dir = dir.path().join(OFFSETS_DIR);
    std::fs::write(
        offsets_dir.join(format!("offsets-{:020}.log.tmp", generation + 1)),
        b"x",
    )
    .unwrap();
    std::fs::write(log_path(&offsets_dir, 0), b"old").unwrap();
    let store = LocalOffsetStore::open_with(dir.path(), options).unwrap();
    assert_eq!(current_log(dir.path()), log_path(&offsets_dir, generation));
    assert_eq!(offsets_of(&store, "g"), expected);
    assert_eq!(expected.iter().map(|e| e.2).max(), Some(1999));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_fsyncs_and_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalOffsetStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .commit(&format!("g{}", i % 10), vec![entry("t", i, i as i64)])
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let fsyncs = store.fsync_count();
    assert!(
        fsyncs > 0 && fsyncs < 200,
        "{fsyncs} fsyncs for 200 commits"
    );
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    for i in 0..200 {
        let got = store.fetch(&format!("g{}", i % 10), "t", i);
        assert_eq!(got.map(|c| c.offset), Some(i as i64));
    }
    assert_eq!(store.groups().len(), 10);
}

#[tokio::test]
async fn zero_filled_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalOffsetStore::open(dir.path()).unwrap();
        populate(&store).await;
    }
    let log = current_log(dir.path());
    let full = std::fs::metadata(&log).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(full + 4096).unwrap();
    drop(f);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), full);
    assert_eq!(store.groups(), vec!["g1", "g2", "g3"]);
}

#[tokio::test]
async fn fsync_failure_fails_the_call_and_poisons_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    store.commit("g", vec![entry("t", 0, 1)]).await.unwrap();
    store.fail_next_fsync();
    assert!(store.commit("g", vec![entry("t", 0, 2)]).await.is_err());
    // Every later write fails, including no-ops and compaction.
    assert!(store.commit("g", vec![entry("t", 1, 3)]).await.is_err());
    assert!(store.delete_group("nope").await.is_err());
    assert!(store.compact().await.is_err());
    // Reads still answer; a restart reads the truth from disk.
    assert!(store.fetch("g", "t", 0).is_some());
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert!(store.fetch("g", "t", 0).is_some_and(|c| c.offset >= 1));
    store.commit("g", vec![entry("t", 1, 4)]).await.unwrap();
}

#[tokio::test]
async fn group_state_writes_are_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).unwrap();
    assert_eq!(store.group_state_version("g"), 0);
    let v1 = store
        .store_group_metadata("g", Some(b"one".to_vec()), 0)
        .await
        .unwrap();
    assert!(v1 > 0);
    assert_eq!(store.group_state_version("g"), v1);
    // A writer that read the group before v1 is refused, and changes nothing.
    let stale = store
        .store_group_metadata("g", Some(b"lost".to_vec()), 0)
        .await;
    assert!(
        matches!(
            stale,
            Err(StorageError::StaleGroupState { expected: 0, actual, .. }) if actual == v1
        ),
        "{stale:?}"
    );
    assert_eq!(
        store.group_metadata(),
        vec![("g".to_string(), b"one".to_vec())]
    );
    let v2 = store
        .store_group_metadata("g", Some(b"two".to_vec()), v1)
        .await
        .unwrap();
    assert!(v2 > v1);
    // Writing the same state again is no change and keeps the version.
    let same = store
        .store_group_metadata("g", Some(b"two".to_vec()), v2)
        .await
        .unwrap();
    assert_eq!(same, v2);
    // A clear moves the version on: one who read "two" before the clear
    // cannot bring it back, nor can one who read the group's absence.
    let v3 = store.store_group_metadata("g", None, v2).await.unwrap();
    assert!(v3 > v2);
    assert!(store.group_metadata().is_empty());
    for expected in [0, v2] {
        let stale = store
            .store_group_metadata("g", Some(b"stale".to_vec()), expected)
            .await;
        assert!(matches!(stale, Err(StorageError::StaleGroupState { .. })));
    }
    // Other groups have versions of their own.
    let h = store
        .store_group_metadata("h", Some(b"h".to_vec()), 0)
        .await
        .unwrap();
    assert!(h > v3);
    assert_eq!(store.group_state_version("g"), v3);
}
