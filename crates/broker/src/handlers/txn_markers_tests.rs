//! EndTxn through a real broker: the coordinator's markers land in every
//! partition of the transaction as control batches (the broker's
//! `LogMarkers`), a partition deleted meanwhile is skipped, and the
//! transaction completes.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use fjord_testkit::batches;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

use super::end_txn;
use super::test_support::{ctx, test_broker, TestBroker};
use crate::groups::group::now_ms;
use crate::transactions::{ProducerIdAndEpoch, TxnProducer, TxnState};

async fn append_transactional(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    producer: ProducerIdAndEpoch,
    base_sequence: i32,
) {
    let records: Vec<Record> = (0..2)
        .map(|i| Record {
            transactional: true,
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            ..batches::record(i, None, Some(Bytes::from("v")), batches::now_ms())
        })
        .collect();
    let log = broker
        .topics
        .partition(topic, partition)
        .expect("partition");
    log.append(
        batches::encode(&records, Compression::None),
        fjord_storage::Durability::Written,
    )
    .await
    .expect("appended");
}

/// The last record of a partition: (is control, producer id, epoch,
/// commit). A control record's key is its version (i16) then its type
/// (i16: 0 abort, 1 commit).
async fn last_record(broker: &TestBroker, topic: &str, partition: i32) -> (bool, i64, i16, bool) {
    let log = broker
        .topics
        .partition(topic, partition)
        .expect("partition");
    let end = log.log_end_offset();
    let mut read = log
        .read(end - 1, 1 << 20, true)
        .await
        .expect("read")
        .records;
    let sets = RecordBatchDecoder::decode_all(&mut read).expect("decodes");
    let record = sets
        .iter()
        .flat_map(|set| &set.records)
        .next_back()
        .expect("a record");
    let key = record.key.as_deref().unwrap_or_default();
    let commit = key.len() == 4 && i16::from_be_bytes([key[2], key[3]]) == 1;
    (
        record.control,
        record.producer_id,
        record.producer_epoch,
        commit,
    )
}

async fn settled(broker: &TestBroker, id: &str) -> TxnState {
    for _ in 0..500 {
        let state = broker.transactions.describe(id).await.expect("known").state;
        if !matches!(state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} stays prepared");
}

fn end(producer: ProducerIdAndEpoch, commit: bool) -> EndTxnRequest {
    let mut request = EndTxnRequest::default();
    request.transactional_id = TransactionalId(StrBytes::from_static_str("tx"));
    request.producer_id = ProducerId(producer.producer_id);
    request.producer_epoch = producer.epoch;
    request.committed = commit;
    request
}

#[tokio::test]
async fn commit_and_abort_markers_reach_every_partition_and_skip_deleted_ones() {
    let broker = test_broker().await;
    for topic in ["t", "gone"] {
        broker
            .topics
            .create(topic, 2, BTreeMap::new(), false)
            .await
            .expect("topic created");
    }
    let producer = broker
        .transactions
        .init_producer_id("tx", 60_000, None, now_ms())
        .await
        .expect("InitProducerId");
    let txn = TxnProducer {
        transactional_id: "tx",
        producer_id: producer.producer_id,
        epoch: producer.epoch,
    };
    let partitions = vec![
        ("t".to_string(), 0),
        ("t".to_string(), 1),
        ("gone".to_string(), 0),
    ];
    broker
        .transactions
        .add(txn, partitions, vec!["g".to_string()], 0, now_ms())
        .await
        .expect("added");
    append_transactional(&broker, "t", 0, producer, 0).await;
    append_transactional(&broker, "t", 1, producer, 0).await;
    append_transactional(&broker, "gone", 0, producer, 0).await;
    broker.topics.delete("gone").await.expect("deleted");

    let committed = end_txn::handle(&broker, &ctx(ApiKey::EndTxn, 3), end(producer, true)).await;
    assert_eq!(committed.error_code, 0);
    assert_eq!(settled(&broker, "tx").await, TxnState::CompleteCommit);
    for partition in [0, 1] {
        let log = broker.topics.partition("t", partition).expect("t");
        assert_eq!(log.log_end_offset(), 3, "two records and the marker");
        assert_eq!(
            last_record(&broker, "t", partition).await,
            (true, producer.producer_id, producer.epoch, true)
        );
    }

    broker
        .transactions
        .add(txn, vec![("t".to_string(), 0)], Vec::new(), 0, now_ms())
        .await
        .expect("added");
    append_transactional(&broker, "t", 0, producer, 2).await;
    let aborted = end_txn::handle(&broker, &ctx(ApiKey::EndTxn, 3), end(producer, false)).await;
    assert_eq!(aborted.error_code, 0);
    assert_eq!(settled(&broker, "tx").await, TxnState::CompleteAbort);
    assert_eq!(
        last_record(&broker, "t", 0).await,
        (true, producer.producer_id, producer.epoch, false)
    );
    let untouched = broker.topics.partition("t", 1).expect("t-1");
    assert_eq!(untouched.log_end_offset(), 3, "t-1 was not in the second");
}
