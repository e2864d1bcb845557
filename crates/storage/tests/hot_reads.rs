//! Reads of bytes in the page cache are answered on the calling thread, so
//! a consumer following the tail is never queued behind cold reads that
//! hold every blocking-pool permit. Its own test binary: the permits are
//! process-wide, and this test takes all of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fjord_storage::local::{install_read_hook, LocalLogStore, FOREGROUND_PERMITS};
use fjord_storage::{Durability, LogConfig, LogStore, PartitionLog, TopicIdPartition};
use fjord_testkit::batches::batch;
use kafka_protocol::records::Compression;
use parking_lot::{Condvar, Mutex};

async fn partition_with_a_batch(dir: &std::path::Path) -> (LocalLogStore, Arc<dyn PartitionLog>) {
    let store = LocalLogStore::open(dir.to_path_buf()).unwrap();
    let log = store
        .open_partition(
            &TopicIdPartition::new(uuid::Uuid::from_u128(7), "t", 0),
            LogConfig::default(),
        )
        .await
        .unwrap();
    log.append(batch(3, Compression::None), Durability::Written)
        .await
        .unwrap();
    (store, log)
}

/// Releases the parked cold reads when dropped.
struct Disk(Arc<(Mutex<bool>, Condvar)>);

impl Drop for Disk {
    fn drop(&mut self) {
        let (done, wake) = &*self.0;
        *done.lock() = true;
        wake.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_read_is_not_queued_behind_reads_waiting_for_the_disk() {
    let cold_dir = tempfile::tempdir().unwrap();
    let hot_dir = tempfile::tempdir().unwrap();
    let (_cold_store, cold) = partition_with_a_batch(cold_dir.path()).await;
    let (_hot_store, hot) = partition_with_a_batch(hot_dir.path()).await;
    let expected = hot.read(0, 1 << 20, true).await.unwrap().records;

    // Every read of the cold partition waits for the "disk" until released
    // (on every way out of this test: the runtime waits for those threads).
    let entered = Arc::new(AtomicUsize::new(0));
    let released = Arc::new((Mutex::new(false), Condvar::new()));
    let disk = Disk(Arc::clone(&released));
    let _hook = {
        let (entered, released) = (Arc::clone(&entered), Arc::clone(&released));
        install_read_hook(
            cold_dir.path(),
            Arc::new(move |_| {
                entered.fetch_add(1, Ordering::SeqCst);
                let (done, wake) = &*released;
                let mut done = done.lock();
                while !*done {
                    wake.wait(&mut done);
                }
            }),
        )
    };
    let cold_reads: Vec<_> = (0..FOREGROUND_PERMITS + 4)
        .map(|_| {
            let cold = Arc::clone(&cold);
            tokio::spawn(async move { cold.read(0, 1 << 20, true).await })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while entered.load(Ordering::SeqCst) < FOREGROUND_PERMITS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cold reads never took every permit"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let read = tokio::time::timeout(Duration::from_secs(5), hot.read(0, 1 << 20, true))
        .await
        .expect("the cached read waited for a blocking-pool permit")
        .unwrap();
    assert_eq!(read.records, expected);
    assert_eq!(entered.load(Ordering::SeqCst), FOREGROUND_PERMITS);

    drop(disk);
    for cold_read in cold_reads {
        let outcome = cold_read.await.unwrap().unwrap();
        assert_eq!(outcome.offsets.log_end_offset, 3);
        assert!(!outcome.records.is_empty());
    }
}
