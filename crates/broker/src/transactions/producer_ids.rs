//! Producer ids, unique for the life of the data dir: handed out from
//! blocks of [`BLOCK_SIZE`] (as Kafka's controller hands them to brokers),
//! and a block is reserved durably in the transaction store before any id
//! of it is handed out. A restart, kill -9 included, starts at the next
//! block: the unused rest of the last one is skipped, never reused.

use std::ops::Range;
use std::sync::Arc;

use fjord_storage::transactions::TransactionStore;
use fjord_storage::StorageError;

pub const BLOCK_SIZE: i64 = 1000;

pub struct ProducerIds {
    store: Arc<dyn TransactionStore>,
    /// The ids of the reserved block not handed out yet.
    block: tokio::sync::Mutex<Range<i64>>,
}

impl ProducerIds {
    pub fn new(store: Arc<dyn TransactionStore>) -> Self {
        ProducerIds {
            store,
            block: tokio::sync::Mutex::new(0..0),
        }
    }

    pub async fn next(&self) -> Result<i64, StorageError> {
        let mut block = self.block.lock().await;
        if block.is_empty() {
            let start = self.store.reserve_producer_ids(BLOCK_SIZE).await?;
            *block = start..start.saturating_add(BLOCK_SIZE);
        }
        let id = block.start;
        block.start += 1;
        Ok(id)
    }
}
