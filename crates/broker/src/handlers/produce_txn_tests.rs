//! Produce's KIP-890 check through the handler: transactional batches for
//! partitions outside the producer's transaction are refused (spelled per
//! version), and from v12 they add the partition instead.

use std::collections::BTreeMap;

use bytes::Bytes;
use fjord_testkit::batches;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};

use super::produce;
use super::test_support::{ctx, test_broker, TestBroker};
use crate::groups::group::now_ms;
use crate::transactions::{ProducerIdAndEpoch, TxnProducer};

/// A transactional batch of two records from the producer, sequences
/// from `base_sequence`.
fn transactional_batch(producer: ProducerIdAndEpoch, base_sequence: i32) -> Bytes {
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
    batches::encode(&records, Compression::None)
}

fn request(transactional_id: Option<&str>, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_transactional_id(
            transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string()))),
        )
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

async fn produce(broker: &TestBroker, version: i16, request: ProduceRequest) -> (i16, i64) {
    let response = produce::handle(broker, &ctx(ApiKey::Produce, version), request).await;
    let answer = &response.responses[0].partition_responses[0];
    (answer.error_code, answer.base_offset)
}

/// Topic "t" (2 partitions) and producer "tx" with t-0 in its transaction.
async fn broker_with_transaction() -> (TestBroker, ProducerIdAndEpoch) {
    let broker = test_broker().await;
    broker
        .topics
        .create("t", 2, BTreeMap::new(), false)
        .await
        .expect("topic created");
    // Twice, so that an older epoch (a zombie) exists.
    let mut producer = None;
    for _ in 0..2 {
        let granted = broker
            .transactions
            .init_producer_id("tx", 60_000, None, now_ms())
            .await
            .expect("InitProducerId");
        producer = Some(granted);
    }
    let producer = producer.expect("initialized");
    assert_eq!(producer.epoch, 1);
    let txn = TxnProducer {
        transactional_id: "tx",
        producer_id: producer.producer_id,
        epoch: producer.epoch,
    };
    broker
        .transactions
        .add(txn, vec![("t".to_string(), 0)], Vec::new(), 0, now_ms())
        .await
        .expect("AddPartitionsToTxn");
    (broker, producer)
}

#[tokio::test]
async fn a_partition_outside_the_transaction_is_refused_as_each_version_says() {
    for (version, refusal) in [
        (3, ResponseError::InvalidTxnState),
        (10, ResponseError::InvalidTxnState),
        (11, ResponseError::TransactionAbortable),
    ] {
        let (broker, producer) = broker_with_transaction().await;
        let batch = transactional_batch(producer, 0);
        let added = produce(&broker, version, request(Some("tx"), 0, batch.clone())).await;
        assert_eq!(added, (0, 0), "v{version}: t-0 is in the transaction");
        let outside = produce(&broker, version, request(Some("tx"), 1, batch)).await;
        assert_eq!(outside, (refusal.code(), -1), "v{version}");
        let log = broker.topics.partition("t", 1).expect("t-1");
        assert_eq!(log.log_end_offset(), 0, "v{version}: nothing written");
        // A zombie (older epoch) is told INVALID_PRODUCER_EPOCH.
        let zombie = ProducerIdAndEpoch {
            epoch: producer.epoch - 1,
            ..producer
        };
        let fenced = produce(
            &broker,
            version,
            request(Some("tx"), 0, transactional_batch(zombie, 2)),
        )
        .await;
        assert_eq!(fenced.0, ResponseError::InvalidProducerEpoch.code());
    }
}

#[tokio::test]
async fn from_v12_producing_adds_the_partition() {
    let (broker, producer) = broker_with_transaction().await;
    let batch = transactional_batch(producer, 0);
    assert_eq!(
        produce(&broker, 12, request(Some("tx"), 1, batch)).await,
        (0, 0)
    );
    let state = broker.transactions.describe("tx").await.expect("known");
    assert!(state.partitions.contains(&("t".to_string(), 1)));
    assert_eq!(state.client_transaction_version, 2);
}

#[tokio::test]
async fn transactional_batches_need_a_transactional_id_and_others_are_not_checked() {
    let (broker, producer) = broker_with_transaction().await;
    let without_id = produce(
        &broker,
        9,
        request(None, 0, transactional_batch(producer, 0)),
    )
    .await;
    assert_eq!(
        without_id.0,
        ResponseError::TransactionalIdAuthorizationFailed.code()
    );
    // A plain batch on a transactional producer's request: not checked.
    let plain = batches::batch_of_values([Bytes::from("x")], batches::now_ms());
    assert_eq!(
        produce(&broker, 9, request(Some("tx"), 1, plain)).await,
        (0, 0)
    );
    // Unknown transactional id: the coordinator's own answer.
    let unknown = produce(
        &broker,
        9,
        request(Some("nobody"), 0, transactional_batch(producer, 0)),
    )
    .await;
    assert_eq!(unknown.0, ResponseError::InvalidProducerIdMapping.code());
}
