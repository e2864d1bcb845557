use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fjord_storage::local_transactions::LocalTransactionStore;
use fjord_storage::transactions::TransactionStore;
use fjord_storage::Durability;
use parking_lot::Mutex;
use tempfile::TempDir;

use crate::transactions::markers::{MarkerWriter, Markers};
use crate::transactions::metadata::{TopicPartition, TransactionMetadata};
use crate::transactions::{TransactionConfig, TransactionCoordinator, TxnProducer, TxnState};

pub(super) const NOW: i64 = 1_800_000_000_000;

/// Records the markers asked for; refuses while `failing`.
#[derive(Default)]
pub(super) struct RecordingMarkers {
    pub(super) written: Mutex<Vec<Markers>>,
    pub(super) failing: AtomicBool,
}

#[async_trait]
impl MarkerWriter for RecordingMarkers {
    async fn write_markers(&self, markers: &Markers) -> Result<(), String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("injected marker failure".to_string());
        }
        self.written.lock().push(markers.clone());
        Ok(())
    }
}

pub(super) struct Harness {
    pub(super) coordinator: Arc<TransactionCoordinator>,
    pub(super) markers: Arc<RecordingMarkers>,
    pub(super) dir: TempDir,
}

pub(super) fn config() -> TransactionConfig {
    TransactionConfig {
        max_timeout_ms: 60_000,
        id_expiration_ms: 3_600_000,
        check_interval_ms: 1_000,
        expiry_check_interval_ms: 60_000,
    }
}

fn coordinator_on(dir: &Path, markers: Arc<RecordingMarkers>) -> Arc<TransactionCoordinator> {
    coordinator_with(config(), dir, markers)
}

fn coordinator_with(
    config: TransactionConfig,
    dir: &Path,
    markers: Arc<RecordingMarkers>,
) -> Arc<TransactionCoordinator> {
    let store = LocalTransactionStore::open(dir).expect("store opens");
    Arc::new(TransactionCoordinator::new(config, Arc::new(store), markers).expect("state reads"))
}

pub(super) fn harness() -> Harness {
    harness_with(config())
}

pub(super) fn harness_with(config: TransactionConfig) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let markers = Arc::new(RecordingMarkers::default());
    Harness {
        coordinator: coordinator_with(config, dir.path(), Arc::clone(&markers)),
        markers,
        dir,
    }
}

impl Harness {
    /// A new coordinator over the same store, as after a kill -9 (nothing
    /// of the old one is shut down).
    pub(super) fn restarted(self) -> Harness {
        let markers = Arc::new(RecordingMarkers::default());
        Harness {
            coordinator: coordinator_on(self.dir.path(), Arc::clone(&markers)),
            markers,
            dir: self.dir,
        }
    }

    /// A coordinator whose store holds `metadata` for `id` (states no
    /// request sequence reaches quickly, such as an exhausted epoch).
    pub(super) async fn seeded(id: &str, metadata: &TransactionMetadata) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalTransactionStore::open(dir.path()).expect("store opens");
        store
            .store_transaction(id, Some(metadata.encode()), 0, Durability::Synced)
            .await
            .expect("seeded");
        // Producer ids below this are taken by the seeded state.
        store.reserve_producer_ids(1_000).await.expect("reserved");
        drop(store);
        let markers = Arc::new(RecordingMarkers::default());
        Harness {
            coordinator: coordinator_on(dir.path(), Arc::clone(&markers)),
            markers,
            dir,
        }
    }

    pub(super) async fn state(&self, id: &str) -> TransactionMetadata {
        self.coordinator.describe(id).await.expect("known id")
    }

    /// The id's state once the background completion (if any) is done.
    pub(super) async fn settled(&self, id: &str) -> TransactionMetadata {
        for _ in 0..500 {
            let state = self.state(id).await;
            if !matches!(
                state.state,
                TxnState::PrepareCommit | TxnState::PrepareAbort
            ) {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{id} stays prepared: {:?}", self.state(id).await);
    }

    pub(super) fn markers(&self) -> Vec<Markers> {
        self.markers.written.lock().clone()
    }

    /// InitProducerId for `id`, which must succeed.
    pub(super) async fn init(&self, id: &str) -> (i64, i16) {
        let granted = self
            .coordinator
            .init_producer_id(id, 30_000, None, NOW)
            .await
            .expect("InitProducerId");
        (granted.producer_id, granted.epoch)
    }

    /// A producer that is initialized and has `partitions` in an open transaction.
    pub(super) async fn open(&self, id: &str, partitions: &[TopicPartition]) -> (i64, i16) {
        let (producer_id, epoch) = self.init(id).await;
        let producer = TxnProducer {
            transactional_id: id,
            producer_id,
            epoch,
        };
        self.coordinator
            .add(producer, partitions.to_vec(), Vec::new(), 0, NOW)
            .await
            .expect("AddPartitionsToTxn");
        (producer_id, epoch)
    }
}

impl Harness {
    /// A transaction over `partitions` whose commit is decided but whose
    /// markers could not be written: it stays in PrepareCommit, and so do
    /// later ones until `markers.failing` is cleared.
    pub(super) async fn stuck_committing(
        &self,
        id: &str,
        partitions: &[TopicPartition],
    ) -> (i64, i16) {
        let p = self.open(id, partitions).await;
        self.markers.failing.store(true, Ordering::SeqCst);
        self.coordinator
            .end(producer(id, p), true, 0, NOW)
            .await
            .expect("EndTxn");
        // Lets the background completion try (and fail) first.
        tokio::task::yield_now().await;
        assert_eq!(self.state(id).await.state, TxnState::PrepareCommit);
        p
    }
}

pub(super) fn tp(topic: &str, partition: i32) -> TopicPartition {
    (topic.to_string(), partition)
}

pub(super) fn producer(id: &str, (producer_id, epoch): (i64, i16)) -> TxnProducer<'_> {
    TxnProducer {
        transactional_id: id,
        producer_id,
        epoch,
    }
}
