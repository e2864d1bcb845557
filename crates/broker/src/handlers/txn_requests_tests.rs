//! AddPartitionsToTxn, AddOffsetsToTxn and EndTxn through their handlers,
//! at every version the codec defines.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnTopicResult;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, GroupId, ProducerId,
    TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, test_broker, TestBroker};
use super::{add_offsets_to_txn, add_partitions_to_txn, end_txn};
use crate::groups::group::now_ms;

fn code(error: ResponseError) -> i16 {
    error.code()
}

/// A broker with topic "t" (2 partitions) and producer "tx" initialized.
pub(super) async fn broker_with_producer() -> (TestBroker, i64, i16) {
    let broker = test_broker().await;
    broker
        .topics
        .create("t", 2, BTreeMap::new(), false)
        .await
        .expect("topic created");
    let granted = broker
        .transactions
        .init_producer_id("tx", 60_000, None, now_ms())
        .await
        .expect("InitProducerId");
    (broker, granted.producer_id, granted.epoch)
}

fn topic(name: &str, partitions: &[i32]) -> AddPartitionsToTxnTopic {
    let mut topic = AddPartitionsToTxnTopic::default();
    topic.name = TopicName(StrBytes::from_string(name.to_string()));
    topic.partitions = partitions.to_vec();
    topic
}

fn id(name: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(name.to_string()))
}

fn single(
    producer_id: i64,
    epoch: i16,
    topics: Vec<AddPartitionsToTxnTopic>,
) -> AddPartitionsToTxnRequest {
    let mut request = AddPartitionsToTxnRequest::default();
    request.v3_and_below_transactional_id = id("tx");
    request.v3_and_below_producer_id = ProducerId(producer_id);
    request.v3_and_below_producer_epoch = epoch;
    request.v3_and_below_topics = topics;
    request
}

/// (topic, partition, error code) of each result.
fn flat(results: &[AddPartitionsToTxnTopicResult]) -> Vec<(String, i32, i16)> {
    results
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect()
}

fn end(producer_id: i64, epoch: i16, commit: bool) -> EndTxnRequest {
    let mut request = EndTxnRequest::default();
    request.transactional_id = id("tx");
    request.producer_id = ProducerId(producer_id);
    request.producer_epoch = epoch;
    request.committed = commit;
    request
}

#[tokio::test]
async fn partitions_are_added_and_unknown_ones_fail_the_request() {
    for version in 0..=3 {
        let (broker, pid, epoch) = broker_with_producer().await;
        let ctx = ctx(ApiKey::AddPartitionsToTxn, version);
        let missing = single(pid, epoch, vec![topic("t", &[0]), topic("nope", &[0])]);
        let response = add_partitions_to_txn::handle(&broker, &ctx, missing).await;
        assert_encodes(&response, version);
        assert_eq!(
            flat(&response.results_by_topic_v3_and_below),
            vec![
                ("t".into(), 0, code(ResponseError::OperationNotAttempted)),
                (
                    "nope".into(),
                    0,
                    code(ResponseError::UnknownTopicOrPartition)
                ),
            ]
        );
        let request = single(pid, epoch, vec![topic("t", &[0, 1])]);
        let response = add_partitions_to_txn::handle(&broker, &ctx, request).await;
        assert_eq!(
            flat(&response.results_by_topic_v3_and_below),
            vec![("t".into(), 0, 0), ("t".into(), 1, 0)]
        );
        let open = broker.transactions.describe("tx").await.unwrap();
        assert_eq!(open.partitions.len(), 2);
        // An older epoch of the same producer: fenced, spelled per version.
        let zombie = single(pid, epoch - 1, vec![topic("t", &[0])]);
        let response = add_partitions_to_txn::handle(&broker, &ctx, zombie).await;
        let fenced = if version < 2 {
            ResponseError::InvalidProducerEpoch
        } else {
            ResponseError::ProducerFenced
        };
        assert_eq!(
            flat(&response.results_by_topic_v3_and_below)[0].2,
            code(fenced)
        );
    }
}

#[tokio::test]
async fn brokers_add_and_verify_in_batches() {
    for version in 4..=5 {
        let (broker, pid, epoch) = broker_with_producer().await;
        let ctx = ctx(ApiKey::AddPartitionsToTxn, version);
        let mut add = AddPartitionsToTxnTransaction::default();
        add.transactional_id = id("tx");
        add.producer_id = ProducerId(pid);
        add.producer_epoch = epoch;
        add.topics = vec![topic("t", &[0])];
        let mut verify = add.clone();
        verify.verify_only = true;
        verify.topics = vec![topic("t", &[0, 1])];
        let mut stranger = verify.clone();
        stranger.transactional_id = id("unknown");
        let mut request = AddPartitionsToTxnRequest::default();
        request.transactions = vec![add, verify, stranger];
        let response = add_partitions_to_txn::handle(&broker, &ctx, request).await;
        assert_encodes(&response, version);
        let results: Vec<_> = response
            .results_by_transaction
            .iter()
            .map(|r| (r.transactional_id.to_string(), flat(&r.topic_results)))
            .collect();
        let unknown = code(ResponseError::InvalidProducerIdMapping);
        assert_eq!(
            results,
            vec![
                ("tx".into(), vec![("t".into(), 0, 0)]),
                (
                    "tx".into(),
                    vec![
                        ("t".into(), 0, 0),
                        ("t".into(), 1, code(ResponseError::TransactionAbortable))
                    ]
                ),
                (
                    "unknown".into(),
                    vec![("t".into(), 0, unknown), ("t".into(), 1, unknown)]
                ),
            ]
        );
    }
}

#[tokio::test]
async fn offsets_join_the_transaction() {
    for version in 0..=4 {
        let (broker, pid, epoch) = broker_with_producer().await;
        let ctx = ctx(ApiKey::AddOffsetsToTxn, version);
        let mut request = AddOffsetsToTxnRequest::default();
        request.transactional_id = id("tx");
        request.producer_id = ProducerId(pid);
        request.producer_epoch = epoch;
        request.group_id = GroupId(StrBytes::from_static_str("g"));
        let response = add_offsets_to_txn::handle(&broker, &ctx, request.clone()).await;
        assert_encodes(&response, version);
        assert_eq!(response.error_code, 0);
        let open = broker.transactions.describe("tx").await.unwrap();
        assert!(open.groups.contains("g"));
        request.producer_epoch = epoch + 1;
        let response = add_offsets_to_txn::handle(&broker, &ctx, request).await;
        let fenced = if version < 2 {
            ResponseError::InvalidProducerEpoch
        } else {
            ResponseError::ProducerFenced
        };
        assert_eq!(response.error_code, code(fenced));
    }
}

#[tokio::test]
async fn end_txn_decides_once_and_v5_bumps_the_epoch() {
    for version in 0..=5 {
        let (broker, pid, epoch) = broker_with_producer().await;
        let add_ctx = ctx(ApiKey::AddPartitionsToTxn, 3);
        let add = single(pid, epoch, vec![topic("t", &[1])]);
        add_partitions_to_txn::handle(&broker, &add_ctx, add).await;
        let ctx = ctx(ApiKey::EndTxn, version);
        let response = end_txn::handle(&broker, &ctx, end(pid, epoch, true)).await;
        assert_encodes(&response, version);
        assert_eq!(response.error_code, 0);
        if version >= 5 {
            assert_eq!(
                (response.producer_id.0, response.producer_epoch),
                (pid, epoch + 1)
            );
        } else {
            assert_eq!((response.producer_id.0, response.producer_epoch), (-1, -1));
        }
        let decided = broker.transactions.describe("tx").await.unwrap();
        assert!(decided.state.name().ends_with("Commit"), "{decided:?}");
        let other = end_txn::handle(&broker, &ctx, end(pid, epoch, false)).await;
        assert_eq!(other.error_code, code(ResponseError::InvalidTxnState));
        let stranger = end_txn::handle(&broker, &ctx, end(pid + 1, epoch, true)).await;
        assert_eq!(
            stranger.error_code,
            code(ResponseError::InvalidProducerIdMapping)
        );
    }
}

#[tokio::test]
async fn a_fenced_producer_cannot_end_its_transaction() {
    for version in 0..=4 {
        let (broker, pid, epoch) = broker_with_producer().await;
        let newer = broker
            .transactions
            .init_producer_id("tx", 60_000, None, now_ms())
            .await
            .unwrap();
        assert_eq!(newer.epoch, epoch + 1);
        let ctx = ctx(ApiKey::EndTxn, version);
        let response = end_txn::handle(&broker, &ctx, end(pid, epoch, true)).await;
        let fenced = if version < 2 {
            ResponseError::InvalidProducerEpoch
        } else {
            ResponseError::ProducerFenced
        };
        assert_eq!(response.error_code, code(fenced));
    }
}
