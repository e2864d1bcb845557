//! A parked long-poll fetch does not hold up shutdown, however long the
//! client asked to wait.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use fjord_broker::{start, BrokerConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const FETCH_VERSION: i16 = 12;

fn frame(key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_parked_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    running
        .broker()
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .unwrap();

    // A fetch that cannot be satisfied: it would wait its full max_wait.
    let mut partition = FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut topic = FetchTopic::default();
    topic.topic = TopicName(StrBytes::from_static_str("t"));
    topic.partitions = vec![partition];
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = i32::MAX;
    fetch.min_bytes = 1 << 20;
    fetch.max_bytes = 1 << 20;
    fetch.topics = vec![topic];
    let mut socket = TcpStream::connect(running.bootstrap()).await.unwrap();
    socket
        .write_all(&frame(ApiKey::Fetch, FETCH_VERSION, 1, &fetch))
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
