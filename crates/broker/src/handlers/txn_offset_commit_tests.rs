//! TxnOffsetCommit through its handler at every version the codec defines:
//! the transaction check (AddOffsetsToTxn before v5, the implicit add
//! from v5), the v3+ member checks, per-partition errors, and offsets that
//! stay pending until the transaction's outcome reaches the group.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::test_support::{assert_encodes, ctx, TestBroker};
use super::txn_offset_commit;
// Topic "t" (2 partitions) and producer "tx" initialized.
use super::txn_requests_tests::broker_with_producer;
use crate::groups::group::now_ms;
use crate::groups::JoinRequest;
use crate::transactions::TxnProducer;

const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

/// AddOffsetsToTxn for the group (what clients before v5 send first).
async fn add_group(broker: &TestBroker, producer_id: i64, epoch: i16, group: &str) {
    let producer = TxnProducer {
        transactional_id: "tx",
        producer_id,
        epoch,
    };
    broker
        .transactions
        .add(producer, Vec::new(), vec![group.to_string()], 0, now_ms())
        .await
        .expect("AddOffsetsToTxn");
}

fn request(
    producer_id: i64,
    epoch: i16,
    group: &str,
    topics: &[(&str, &[(i32, i64)])],
) -> TxnOffsetCommitRequest {
    let mut request = TxnOffsetCommitRequest::default();
    request.transactional_id = TransactionalId(StrBytes::from_static_str("tx"));
    request.group_id = GroupId(StrBytes::from_string(group.to_string()));
    request.producer_id = ProducerId(producer_id);
    request.producer_epoch = epoch;
    request.topics = topics
        .iter()
        .map(|(name, partitions)| {
            let mut topic = TxnOffsetCommitRequestTopic::default();
            topic.name = TopicName(StrBytes::from_string(name.to_string()));
            topic.partitions = partitions
                .iter()
                .map(|(partition, offset)| {
                    let mut p = TxnOffsetCommitRequestPartition::default();
                    p.partition_index = *partition;
                    p.committed_offset = *offset;
                    p.committed_metadata = Some(StrBytes::from_static_str("meta"));
                    p
                })
                .collect();
            topic
        })
        .collect();
    request
}

async fn send(
    broker: &TestBroker,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let ctx = ctx(ApiKey::TxnOffsetCommit, version);
    let response = txn_offset_commit::handle(broker, &ctx, request).await;
    assert_encodes(&response, version);
    response
}

/// (topic, partition, error code) of each answer.
fn flat(response: &TxnOffsetCommitResponse) -> Vec<(String, i32, i16)> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// Both partitions of "t" answered `code`.
fn all(code: i16) -> Vec<(String, i32, i16)> {
    vec![("t".into(), 0, code), ("t".into(), 1, code)]
}

/// Both partitions of "t" answered `error`.
fn all_err(error: ResponseError) -> Vec<(String, i32, i16)> {
    all(error.code())
}

/// (producer id, [(topic, partition, offset)]) of each pending transaction.
type Pending = (i64, Vec<(String, i32, i64)>);

fn pending_of(broker: &TestBroker, group: &str) -> Vec<Pending> {
    broker
        .groups
        .store()
        .pending_offsets(group)
        .into_iter()
        .map(|p| {
            let offsets = p
                .offsets
                .into_iter()
                .map(|e| (e.topic, e.partition, e.committed.offset))
                .collect();
            (p.producer_id, offsets)
        })
        .collect()
}

#[tokio::test]
async fn offsets_stay_pending_until_the_transaction_commits() {
    for version in VERSIONS {
        let (broker, pid, epoch) = broker_with_producer().await;
        let commit = || request(pid, epoch, "g", &[("t", &[(0, 10), (1, 11)])]);
        if version < 5 {
            // Without AddOffsetsToTxn the group is not in the transaction.
            let refused = send(&broker, version, commit()).await;
            let expected = if version < 4 {
                ResponseError::InvalidTxnState
            } else {
                ResponseError::TransactionAbortable
            };
            assert_eq!(flat(&refused), all_err(expected), "v{version}");
            assert!(pending_of(&broker, "g").is_empty());
            add_group(&broker, pid, epoch, "g").await;
        }
        let response = send(&broker, version, commit()).await;
        assert_eq!(flat(&response), all(0), "v{version}");
        let open = broker.transactions.describe("tx").await.unwrap();
        assert!(
            open.groups.contains("g"),
            "v{version}: group in the transaction"
        );
        assert_eq!(
            pending_of(&broker, "g"),
            vec![(pid, vec![("t".into(), 0, 10), ("t".into(), 1, 11)])]
        );
        let store = broker.groups.store();
        assert_eq!(
            store.fetch("g", "t", 0),
            None,
            "v{version}: not yet visible"
        );
        broker
            .groups
            .complete_transaction("g", pid, epoch, true)
            .await
            .unwrap();
        let committed = store.fetch("g", "t", 1).expect("committed");
        assert_eq!(committed.offset, 11);
        assert_eq!(committed.metadata.as_deref(), Some("meta"));
    }
}

#[tokio::test]
async fn producer_errors_are_answered_as_kafka_hands_them_on() {
    for version in VERSIONS {
        let (broker, pid, epoch) = broker_with_producer().await;
        add_group(&broker, pid, epoch, "g").await;
        // An older epoch: PRODUCER_FENCED at the coordinator, answered
        // INVALID_PRODUCER_EPOCH to every version.
        let zombie = send(
            &broker,
            version,
            request(pid, epoch - 1, "g", &[("t", &[(0, 1), (1, 1)])]),
        )
        .await;
        assert_eq!(
            flat(&zombie),
            all_err(ResponseError::InvalidProducerEpoch),
            "v{version}"
        );
        let stranger = send(
            &broker,
            version,
            request(pid + 1, epoch, "g", &[("t", &[(0, 1), (1, 1)])]),
        )
        .await;
        assert_eq!(
            flat(&stranger),
            all_err(ResponseError::InvalidProducerIdMapping),
            "v{version}"
        );
        let no_group = send(
            &broker,
            version,
            request(pid, epoch, "", &[("t", &[(0, 1), (1, 1)])]),
        )
        .await;
        assert_eq!(
            flat(&no_group),
            all_err(ResponseError::InvalidGroupId),
            "v{version}"
        );
        assert!(pending_of(&broker, "g").is_empty(), "v{version}");
    }
}

#[tokio::test]
async fn unknown_partitions_and_long_metadata_are_answered_per_partition() {
    let (broker, pid, epoch) = broker_with_producer().await;
    add_group(&broker, pid, epoch, "g").await;
    let mut req = request(
        pid,
        epoch,
        "g",
        &[("t", &[(0, 5), (1, 6), (7, 1)]), ("nope", &[(0, 1)])],
    );
    req.topics[0].partitions[1].committed_metadata = Some(StrBytes::from_string("x".repeat(5000)));
    let response = send(&broker, 3, req).await;
    assert_eq!(
        flat(&response),
        vec![
            ("t".into(), 0, 0),
            ("t".into(), 1, ResponseError::OffsetMetadataTooLarge.code()),
            ("t".into(), 7, ResponseError::UnknownTopicOrPartition.code()),
            (
                "nope".into(),
                0,
                ResponseError::UnknownTopicOrPartition.code()
            ),
        ]
    );
    assert_eq!(
        pending_of(&broker, "g"),
        vec![(pid, vec![("t".into(), 0, 5)])]
    );
    // Nothing that exists: the transaction is not even looked at.
    let response = send(
        &broker,
        3,
        request(pid + 9, epoch, "g", &[("nope", &[(0, 1)])]),
    )
    .await;
    assert_eq!(
        flat(&response),
        vec![(
            "nope".into(),
            0,
            ResponseError::UnknownTopicOrPartition.code()
        )]
    );
}

#[tokio::test]
async fn v3_and_later_check_the_member_and_generation() {
    let (broker, pid, epoch) = broker_with_producer().await;
    add_group(&broker, pid, epoch, "g").await;
    let join = |member_id: &str| JoinRequest {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: std::time::Duration::from_secs(30),
        rebalance_timeout: std::time::Duration::from_secs(30),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), bytes::Bytes::from_static(b"m"))],
        require_known_member_id: false,
        supports_skip_assignment: false,
    };
    let joined = broker.groups.join("g", join("")).await;
    assert_eq!(joined.error, None);
    let with_member = |member: &str, generation: i32| {
        let mut req = request(pid, epoch, "g", &[("t", &[(0, 1), (1, 1)])]);
        req.member_id = StrBytes::from_string(member.to_string());
        req.generation_id = generation;
        req
    };
    for version in 3..=5 {
        let stale = send(
            &broker,
            version,
            with_member(&joined.member_id, joined.generation + 1),
        )
        .await;
        assert_eq!(
            flat(&stale),
            all_err(ResponseError::IllegalGeneration),
            "v{version}"
        );
        let ghost = send(&broker, version, with_member("ghost", joined.generation)).await;
        assert_eq!(
            flat(&ghost),
            all_err(ResponseError::UnknownMemberId),
            "v{version}"
        );
        let mut fenced = with_member(&joined.member_id, joined.generation);
        fenced.group_instance_id = Some(StrBytes::from_static_str("i-unknown"));
        let fenced = send(&broker, version, fenced).await;
        assert_eq!(
            flat(&fenced),
            all_err(ResponseError::UnknownMemberId),
            "v{version}"
        );
        let ok = send(
            &broker,
            version,
            with_member(&joined.member_id, joined.generation),
        )
        .await;
        assert_eq!(flat(&ok), all(0), "v{version}");
    }
    // Before v3 the fields are not on the wire: no member check.
    let old = send(
        &broker,
        2,
        request(pid, epoch, "g", &[("t", &[(0, 2), (1, 2)])]),
    )
    .await;
    assert_eq!(flat(&old), all(0));
}
