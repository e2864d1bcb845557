use std::io::Write;

use super::codec::{decode_payload, encode_frame, Record};
use super::{LocalTransactionOptions, LocalTransactionStore, LOG_FILE, TRANSACTIONS_DIR};
use crate::transactions::TransactionStore;
use crate::{Durability, StorageError};

fn states(store: &LocalTransactionStore) -> Vec<(String, Vec<u8>, u64)> {
    let mut all: Vec<_> = store
        .transactions()
        .into_iter()
        .map(|t| (t.transactional_id, t.state, t.version))
        .collect();
    all.sort();
    all
}

#[test]
fn records_round_trip_and_unknown_tags_are_errors() {
    for record in [
        Record::Put {
            id: "tx".into(),
            state: vec![0, 1, 255],
        },
        Record::Remove { id: "tx".into() },
        Record::ProducerIds { next: 4000 },
    ] {
        let mut frame = Vec::new();
        encode_frame(&record, &mut frame).unwrap();
        assert_eq!(decode_payload(&frame[8..]).unwrap(), record);
    }
    assert!(decode_payload(&[99]).is_err());
    assert!(decode_payload(&[3, 0, 0]).is_err(), "short producer id");
}

#[tokio::test]
async fn producer_id_blocks_never_overlap_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let store = LocalTransactionStore::open(dir.path()).unwrap();
        seen.push(store.reserve_producer_ids(1000).await.unwrap());
        seen.push(store.reserve_producer_ids(1000).await.unwrap());
        // Dropped without any shutdown step, as a kill -9 would leave it.
    }
    assert_eq!(seen, vec![0, 1000, 2000, 3000, 4000, 5000]);
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    assert!(store.reserve_producer_ids(0).await.is_err());
}

#[tokio::test]
async fn states_are_compare_and_set_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    let v1 = store
        .store_transaction("a", Some(b"one".to_vec()), 0, Durability::Synced)
        .await
        .unwrap();
    let stale = store
        .store_transaction("a", Some(b"lost".to_vec()), 0, Durability::Synced)
        .await;
    assert!(
        matches!(stale, Err(StorageError::StaleTransactionState { expected: 0, actual, .. }) if actual == v1)
    );
    let v2 = store
        .store_transaction("a", Some(b"two".to_vec()), v1, Durability::Synced)
        .await
        .unwrap();
    assert!(v2 > v1);
    let b1 = store
        .store_transaction("b", Some(b"bee".to_vec()), 0, Durability::Synced)
        .await
        .unwrap();
    let removed = store
        .store_transaction("b", None, b1, Durability::Synced)
        .await
        .unwrap();
    // A writer that read "b" before the removal cannot resurrect it.
    assert!(store
        .store_transaction("b", Some(b"zombie".to_vec()), b1, Durability::Synced)
        .await
        .is_err());
    assert!(removed > b1);
    assert_eq!(states(&store), vec![("a".into(), b"two".to_vec(), v2)]);
    drop(store);

    let store = LocalTransactionStore::open(dir.path()).unwrap();
    // A removal's version survives too, so the removed state's reader
    // still cannot write over it.
    assert_eq!(store.transaction_version("b"), removed);
    assert_eq!(store.transaction_version("never"), 0);
    let recovered = states(&store);
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        (&recovered[0].0, &recovered[0].1),
        (&"a".into(), &b"two".to_vec())
    );
    // The recovered version is the one to compare against.
    store
        .store_transaction(
            "a",
            Some(b"three".to_vec()),
            recovered[0].2,
            Durability::Synced,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_earlier_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    store
        .store_transaction("a", Some(b"kept".to_vec()), 0, Durability::Synced)
        .await
        .unwrap();
    assert_eq!(store.reserve_producer_ids(1000).await.unwrap(), 0);
    let good_len = store.log_len().await;
    drop(store);
    let path = dir.path().join(TRANSACTIONS_DIR).join(LOG_FILE);
    let mut torn = Vec::new();
    encode_frame(&Record::ProducerIds { next: 9_000 }, &mut torn).unwrap();
    torn.truncate(torn.len() - 3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&torn)
        .unwrap();

    let store = LocalTransactionStore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(states(&store)[0].1, b"kept".to_vec());
    // The torn reservation never happened; the whole one before it did.
    assert_eq!(store.reserve_producer_ids(1000).await.unwrap(), 1000);
}

#[tokio::test]
async fn a_record_that_checks_but_does_not_decode_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(LocalTransactionStore::open(dir.path()).unwrap());
    let path = dir.path().join(TRANSACTIONS_DIR).join(LOG_FILE);
    let payload = [42u8, 1, 2];
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    std::fs::write(&path, frame).unwrap();
    assert!(LocalTransactionStore::open(dir.path()).is_err());
}

#[tokio::test]
async fn compaction_keeps_the_live_state_and_the_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalTransactionOptions {
        compaction_min_bytes: 4096,
    };
    let store = LocalTransactionStore::open_with(dir.path(), options).unwrap();
    let mut version = 0;
    for i in 0..500 {
        let state = format!("state-{i}").into_bytes();
        version = store
            .store_transaction("busy", Some(state), version, Durability::Synced)
            .await
            .unwrap();
    }
    store.reserve_producer_ids(1000).await.unwrap();
    let len = store.log_len().await;
    assert!(len < 4096 + 1024, "log was compacted, {len} bytes");
    drop(store);
    let store = LocalTransactionStore::open_with(dir.path(), options).unwrap();
    assert_eq!(states(&store)[0].1, b"state-499".to_vec());
    assert_eq!(store.reserve_producer_ids(1000).await.unwrap(), 1000);
    assert!(!dir
        .path()
        .join(TRANSACTIONS_DIR)
        .join(super::TEMP_FILE)
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_fsyncs_and_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(LocalTransactionStore::open(dir.path()).unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("tx-{i}");
                let first = store
                    .store_transaction(&id, Some(vec![1, i as u8]), 0, Durability::Synced)
                    .await?;
                store
                    .store_transaction(&id, Some(vec![2, i as u8]), first, Durability::Synced)
                    .await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap());
    }
    let fsyncs = store.fsync_count();
    assert!(fsyncs > 0 && fsyncs < 400, "{fsyncs} fsyncs for 400 writes");
    drop(store);
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    let stored = states(&store);
    assert_eq!(stored.len(), 200);
    for (id, state, version) in stored {
        let i: usize = id.trim_start_matches("tx-").parse().unwrap();
        assert_eq!(state, vec![2, i as u8]);
        assert_eq!(version, versions[i]);
    }
}

#[tokio::test]
async fn a_written_change_takes_no_fsync_and_the_next_synced_one_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    let v1 = store
        .store_transaction("a", Some(b"prepared".to_vec()), 0, Durability::Synced)
        .await
        .unwrap();
    let synced = store.fsync_count();
    let v2 = store
        .store_transaction("a", Some(b"complete".to_vec()), v1, Durability::Written)
        .await
        .unwrap();
    assert_eq!(
        store.fsync_count(),
        synced,
        "a written change waits for no fsync"
    );
    assert_eq!(store.transaction_version("a"), v2);
    store
        .store_transaction("b", Some(b"other".to_vec()), 0, Durability::Synced)
        .await
        .unwrap();
    assert_eq!(store.fsync_count(), synced + 1);
    drop(store);
    let store = LocalTransactionStore::open(dir.path()).unwrap();
    let stored = states(&store);
    let a = stored.iter().find(|(id, _, _)| id == "a").unwrap();
    assert_eq!((a.1.as_slice(), a.2), (&b"complete"[..], v2));
}
