//! Pipelined requests around a parked long-poll fetch: answers already made
//! go out before it parks, and the fetch does not hold up shutdown, however
//! long the client asked to wait.

use std::collections::BTreeMap;
use std::time::Duration;

use fjord_broker::{start, BrokerConfig, RunningBroker};
use fjord_testkit::frames::request;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, GroupId, OffsetCommitRequest, OffsetCommitResponse, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FETCH_VERSION: i16 = 12;
const COMMIT_VERSION: i16 = 8;

/// A fetch of partition 0 of `topic` that no data can satisfy: it waits its
/// whole `max_wait_ms`.
fn unsatisfiable_fetch(topic: &'static str, max_wait_ms: i32) -> FetchRequest {
    let mut partition = FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut fetch_topic = FetchTopic::default();
    fetch_topic.topic = TopicName(StrBytes::from_static_str(topic));
    fetch_topic.partitions = vec![partition];
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = max_wait_ms;
    fetch.min_bytes = 1 << 20;
    fetch.max_bytes = 1 << 20;
    fetch.topics = vec![fetch_topic];
    fetch
}

/// A broker on `dir` with a one-partition topic "t".
async fn broker_with_topic_t(dir: &std::path::Path) -> RunningBroker {
    let running = start(BrokerConfig::for_tests(dir)).await.unwrap();
    running
        .broker()
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .unwrap();
    running
}

async fn read_frame(socket: &mut TcpStream) -> bytes::Bytes {
    let mut length = [0u8; 4];
    socket.read_exact(&mut length).await.unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
    socket.read_exact(&mut body).await.unwrap();
    body.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_made_before_a_fetch_parks_is_sent_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = broker_with_topic_t(dir.path()).await;

    // A standalone consumer's commit, then a fetch that parks for 30 s,
    // written together so the broker reads both at once.
    let mut partition = OffsetCommitRequestPartition::default();
    partition.partition_index = 0;
    partition.committed_offset = 42;
    let mut topic = OffsetCommitRequestTopic::default();
    topic.name = TopicName(StrBytes::from_static_str("t"));
    topic.partitions = vec![partition];
    let mut commit = OffsetCommitRequest::default();
    commit.group_id = GroupId(StrBytes::from_static_str("standalone"));
    commit.generation_id_or_member_epoch = -1;
    commit.topics = vec![topic];
    let mut pipelined = request(ApiKey::OffsetCommit, COMMIT_VERSION, 1, &commit).to_vec();
    pipelined.extend(request(
        ApiKey::Fetch,
        FETCH_VERSION,
        2,
        &unsatisfiable_fetch("t", 30_000),
    ));
    let mut socket = TcpStream::connect(running.bootstrap()).await.unwrap();
    socket.write_all(&pipelined).await.unwrap();

    let mut answer = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut socket))
        .await
        .expect("the commit's answer waited for the parked fetch");
    let header = ResponseHeader::decode(
        &mut answer,
        ApiKey::OffsetCommit.response_header_version(COMMIT_VERSION),
    )
    .unwrap();
    assert_eq!(header.correlation_id, 1);
    let response = OffsetCommitResponse::decode(&mut answer, COMMIT_VERSION).unwrap();
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        running
            .broker()
            .groups
            .store()
            .fetch("standalone", "t", 0)
            .map(|c| c.offset),
        Some(42),
        "answered once durable"
    );
    // The fetch is still parked: nothing more has come.
    let mut byte = [0u8; 1];
    let more = tokio::time::timeout(Duration::from_millis(500), socket.read(&mut byte)).await;
    assert!(more.is_err(), "the parked fetch was answered early");

    tokio::time::timeout(Duration::from_secs(15), running.shutdown())
        .await
        .expect("shutdown waited for a parked fetch")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_parked_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let running = broker_with_topic_t(dir.path()).await;

    // A fetch that cannot be satisfied: it would wait its full max_wait.
    let fetch = unsatisfiable_fetch("t", i32::MAX);
    let mut socket = TcpStream::connect(running.bootstrap()).await.unwrap();
    socket
        .write_all(&request(ApiKey::Fetch, FETCH_VERSION, 1, &fetch))
        .await
        .unwrap();
    // Let the fetch reach its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;

    tokio::time::timeout(Duration::from_secs(15), running.shutdown())
        .await
        .expect("shutdown waited for a parked fetch")
        .unwrap();
    drop(socket);
}
