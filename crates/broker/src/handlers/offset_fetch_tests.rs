//! OffsetFetch and transactions: a pending transactional offset is not
//! answered; with `require_stable` (v7+) its partition is
//! UNSTABLE_OFFSET_COMMIT until the transaction's outcome reaches the
//! group, asked by partition or for all of the group's offsets.

use fjord_storage::offsets::{CommittedOffset, OffsetEntry};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::offset_fetch;
use super::test_support::{assert_encodes, broker_with_topic, ctx, TestBroker};

const UNSTABLE: i16 = ResponseError::UnstableOffsetCommit.code();

fn entry(partition: i32, offset: i64) -> OffsetEntry {
    OffsetEntry {
        topic: "t".into(),
        partition,
        committed: CommittedOffset {
            offset,
            leader_epoch: 4,
            metadata: Some("m".into()),
            commit_timestamp: 1,
            expire_timestamp: -1,
        },
    }
}

/// Group "g": t-0 committed at 5 with 50 pending (producer 9), t-1
/// committed at 6.
async fn broker_with_pending() -> TestBroker {
    let broker = broker_with_topic("t", 2).await;
    let store = broker.groups.store();
    store
        .commit("g", vec![entry(0, 5), entry(1, 6)])
        .await
        .unwrap();
    store
        .commit_pending("g", 9, 0, vec![entry(0, 50)])
        .await
        .unwrap();
    broker
}

/// (partition, offset, error code) of topic "t", for the partitions asked
/// (None: all of the group's offsets).
async fn fetch(
    broker: &TestBroker,
    version: i16,
    partitions: Option<&[i32]>,
    require_stable: bool,
) -> Vec<(i32, i64, i16)> {
    let mut request = OffsetFetchRequest::default();
    request.require_stable = require_stable;
    if version >= 8 {
        let mut group = OffsetFetchRequestGroup::default();
        group.group_id = GroupId(StrBytes::from_static_str("g"));
        group.topics = partitions.map(|p| {
            let mut topic = OffsetFetchRequestTopics::default();
            topic.name = TopicName(StrBytes::from_static_str("t"));
            topic.partition_indexes = p.to_vec();
            vec![topic]
        });
        request.groups = vec![group];
    } else {
        request.group_id = GroupId(StrBytes::from_static_str("g"));
        request.topics = partitions.map(|p| {
            let mut topic = OffsetFetchRequestTopic::default();
            topic.name = TopicName(StrBytes::from_static_str("t"));
            topic.partition_indexes = p.to_vec();
            vec![topic]
        });
    }
    let ctx = ctx(ApiKey::OffsetFetch, version);
    let response: OffsetFetchResponse = offset_fetch::handle(broker, &ctx, request).await;
    assert_encodes(&response, version);
    if version >= 8 {
        response.groups[0].topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset, p.error_code))
            .collect()
    } else {
        response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset, p.error_code))
            .collect()
    }
}

#[tokio::test]
async fn require_stable_answers_unstable_while_a_transaction_is_pending() {
    let broker = broker_with_pending().await;
    for version in 1..=9 {
        for asked in [Some(&[0, 1][..]), None] {
            // Without require_stable: the last committed offset.
            assert_eq!(
                fetch(&broker, version, asked, false).await,
                vec![(0, 5, 0), (1, 6, 0)],
                "v{version} {asked:?}"
            );
        }
    }
    for version in 7..=9 {
        for asked in [Some(&[0, 1][..]), None] {
            assert_eq!(
                fetch(&broker, version, asked, true).await,
                vec![(0, -1, UNSTABLE), (1, 6, 0)],
                "v{version} {asked:?}"
            );
        }
    }
    broker
        .groups
        .complete_transaction("g", 9, 0, true)
        .await
        .unwrap();
    for version in 7..=9 {
        assert_eq!(
            fetch(&broker, version, Some(&[0, 1]), true).await,
            vec![(0, 50, 0), (1, 6, 0)],
            "v{version}"
        );
    }
}

#[tokio::test]
async fn an_aborted_transaction_leaves_the_committed_offset() {
    let broker = broker_with_pending().await;
    // A partition with only a pending offset is unstable too.
    let store = broker.groups.store();
    store.delete_offsets("g", &[("t".into(), 1)]).await.unwrap();
    store
        .commit_pending("g", 9, 0, vec![entry(1, 60)])
        .await
        .unwrap();
    assert_eq!(
        fetch(&broker, 9, Some(&[0, 1]), true).await,
        vec![(0, -1, UNSTABLE), (1, -1, UNSTABLE)]
    );
    assert_eq!(
        fetch(&broker, 9, Some(&[0, 1]), false).await,
        vec![(0, 5, 0), (1, -1, 0)]
    );
    broker
        .groups
        .complete_transaction("g", 9, 0, false)
        .await
        .unwrap();
    assert_eq!(
        fetch(&broker, 9, Some(&[0, 1]), true).await,
        vec![(0, 5, 0), (1, -1, 0)]
    );
}
