//! READ_COMMITTED Fetch and ListOffsets on a real broker: reads stop at the
//! last stable offset, aborted transactions are listed for the range read,
//! and a parked READ_COMMITTED fetch waits for the last stable offset, not
//! for any append.

use std::time::Duration;

use bytes::Bytes;
use fjord_storage::batch::batches as stored_batches;
use fjord_storage::{Durability, PartitionLog, TxnMarker};
use fjord_testkit::batches::{encode, now_ms, record, Compression};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};
use kafka_protocol::records::Record;

use super::fetch::handle;
use super::list_offsets::lookup;
use super::test_support::{append_records, assert_encodes, ctx, test_broker};
use crate::broker::Broker;

const VERSION: i16 = 12;
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
const LATEST: i64 = -1;

fn fetch(isolation_level: i8, offset: i64, min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    let mut request = super::fetch_parked_tests::fetch(min_bytes, max_wait_ms);
    request.isolation_level = isolation_level;
    request.topics[0].partitions[0].fetch_offset = offset;
    request
}

/// One transactional batch of `count` records, sequences from `first_seq`.
fn transactional_batch(producer_id: i64, first_seq: i32, count: usize, timestamp: i64) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: true,
            producer_id,
            producer_epoch: 0,
            sequence: first_seq + i as i32,
            ..record(i, None, Some(Bytes::from(format!("txn-{i}"))), timestamp)
        })
        .collect();
    encode(&records, Compression::None)
}

async fn setup() -> (
    super::test_support::TestBroker,
    std::sync::Arc<dyn PartitionLog>,
) {
    let broker = test_broker().await;
    super::fetch_tests::create(&broker, "t").await;
    let log = broker.topics.partition("t", 0).expect("partition exists");
    (broker, log)
}

async fn append_txn(log: &dyn PartitionLog, producer_id: i64, first_seq: i32, count: usize) {
    let batch = transactional_batch(producer_id, first_seq, count, now_ms());
    log.append(batch, Durability::Written)
        .await
        .expect("append");
}

async fn end_txn(log: &dyn PartitionLog, producer_id: i64, commit: bool) -> i64 {
    log.append_marker(TxnMarker {
        producer_id,
        producer_epoch: 0,
        commit,
        coordinator_epoch: 0,
    })
    .await
    .expect("marker")
}

/// Base offsets of the batches answered, the aborted list as (producer
/// id, first offset) (`None`: null), last stable offset, high watermark.
type Answer = (Vec<i64>, Option<Vec<(i64, i64)>>, i64, i64);

fn answer(response: &FetchResponse) -> Answer {
    assert_encodes(response, VERSION);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let records = partition.records.clone().unwrap_or_default();
    let bases = stored_batches(&records)
        .map(|batch| batch.expect("whole batches").base_offset())
        .collect();
    let aborted = partition.aborted_transactions.as_ref().map(|list| {
        list.iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect()
    });
    (
        bases,
        aborted,
        partition.last_stable_offset,
        partition.high_watermark,
    )
}

async fn fetch_now(broker: &Broker, isolation_level: i8, offset: i64) -> Answer {
    let context = ctx(ApiKey::Fetch, VERSION);
    answer(&handle(broker, &context, fetch(isolation_level, offset, 0, 0)).await)
}

#[tokio::test]
async fn read_committed_stops_at_the_last_stable_offset_and_lists_aborts() {
    let (broker, log) = setup().await;
    append_records(&broker, "t", 0, 1).await; // 0
    append_txn(log.as_ref(), 7, 0, 2).await; // 1..=2
    append_records(&broker, "t", 0, 1).await; // 3
    assert_eq!(
        fetch_now(&broker, READ_COMMITTED, 0).await,
        (vec![0], Some(vec![]), 1, 4)
    );
    // Kafka answers READ_UNCOMMITTED fetches a null aborted list.
    assert_eq!(
        fetch_now(&broker, READ_UNCOMMITTED, 0).await,
        (vec![0, 1, 3], None, 1, 4)
    );
    // At or past the last stable offset (but within the log): nothing yet.
    assert_eq!(
        fetch_now(&broker, READ_COMMITTED, 3).await,
        (vec![], Some(vec![]), 1, 4)
    );
    assert_eq!(end_txn(log.as_ref(), 7, false).await, 4);
    assert_eq!(
        fetch_now(&broker, READ_COMMITTED, 0).await,
        (vec![0, 1, 3, 4], Some(vec![(7, 1)]), 5, 5)
    );
    append_txn(log.as_ref(), 8, 0, 1).await; // 5
    end_txn(log.as_ref(), 8, true).await; // 6
    assert_eq!(
        fetch_now(&broker, READ_COMMITTED, 5).await,
        (vec![5, 6], Some(vec![]), 7, 7)
    );

    // ListOffsets: LATEST per isolation level, and nothing found by time
    // past the last stable offset.
    // Stamped ahead, so that it is the newest record whatever the clock does.
    let ahead = transactional_batch(9, 0, 1, now_ms() + 60_000);
    log.append(ahead, Durability::Written)
        .await
        .expect("append"); // 7
    assert_eq!(lookup(log.as_ref(), LATEST, true).await.unwrap(), (-1, 7));
    assert_eq!(lookup(log.as_ref(), LATEST, false).await.unwrap(), (-1, 8));
    let newest = log.max_timestamp().await.unwrap().expect("records");
    assert_eq!(newest.offset, 7);
    assert_eq!(lookup(log.as_ref(), -3, true).await.unwrap(), (-1, -1));
    assert_eq!(
        lookup(log.as_ref(), -3, false).await.unwrap(),
        (newest.timestamp, 7)
    );
}

#[tokio::test]
async fn a_parked_read_committed_fetch_waits_for_the_last_stable_offset() {
    let (broker, log) = setup().await;
    append_txn(log.as_ref(), 7, 0, 3).await; // 0..=2
    let shared = broker.shared();
    let parked = tokio::spawn(async move {
        let context = ctx(ApiKey::Fetch, VERSION);
        answer(&handle(&shared, &context, fetch(READ_COMMITTED, 0, 1, 20_000)).await)
    });
    // More of the open transaction: the high watermark moves, the last
    // stable offset does not, and the fetch stays parked.
    for seq in 3..6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        append_txn(log.as_ref(), 7, seq, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!parked.is_finished(), "woken by an append past the LSO");
    end_txn(log.as_ref(), 7, true).await;
    let answered = tokio::time::timeout(Duration::from_secs(10), parked)
        .await
        .expect("answered once the transaction committed")
        .expect("fetch task");
    assert_eq!(answered, (vec![0, 3, 4, 5, 6], Some(vec![]), 7, 7));
}
