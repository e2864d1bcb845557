//! Pipelined requests on one connection: an answer already made is sent
//! before a long-poll fetch starts waiting, and a parked fetch does not hold
//! up shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fjord_broker::{start, BrokerConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PRODUCE_VERSION: i16 = 9;
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

fn one_record_batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from_static(b"pipelined")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).unwrap();
    buf.freeze()
}

async fn read_response(socket: &mut TcpStream) -> Bytes {
    let length = socket.read_i32().await.unwrap();
    let mut body = vec![0u8; length as usize];
    socket.read_exact(&mut body).await.unwrap();
    Bytes::from(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_answer_does_not_wait_behind_a_pipelined_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    running
        .broker()
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .unwrap();
    let topic = || TopicName(StrBytes::from_static_str("t"));

    let mut partition = PartitionProduceData::default();
    partition.records = Some(one_record_batch());
    let mut produce_topic = TopicProduceData::default();
    produce_topic.name = topic();
    produce_topic.partition_data = vec![partition];
    let mut produce = ProduceRequest::default();
    produce.acks = 1;
    produce.timeout_ms = 5000;
    produce.topic_data = vec![produce_topic];

    // A fetch that cannot be satisfied soon: it waits its full max_wait.
    let mut fetch_partition = FetchPartition::default();
    fetch_partition.partition_max_bytes = 1 << 20;
    let mut fetch_topic = FetchTopic::default();
    fetch_topic.topic = topic();
    fetch_topic.partitions = vec![fetch_partition];
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = 30_000;
    fetch.min_bytes = 1 << 20;
    fetch.max_bytes = 1 << 20;
    fetch.topics = vec![fetch_topic];

    let mut both = frame(ApiKey::Produce, PRODUCE_VERSION, 1, &produce);
    both.extend(frame(ApiKey::Fetch, FETCH_VERSION, 2, &fetch));
    let mut socket = TcpStream::connect(running.bootstrap()).await.unwrap();
    socket.write_all(&both).await.unwrap();

    // Well inside the fetch's 30 s wait: the produce answer came first, alone.
    let mut answer = tokio::time::timeout(Duration::from_secs(15), read_response(&mut socket))
        .await
        .expect("the produce answer waited behind the long poll");
    let header = ResponseHeader::decode(
        &mut answer,
        ApiKey::Produce.response_header_version(PRODUCE_VERSION),
    )
    .unwrap();
    assert_eq!(header.correlation_id, 1);
    let produced = ProduceResponse::decode(&mut answer, PRODUCE_VERSION).unwrap();
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0));

    // The fetch is still parked (30 s): shutting down must not wait for it.
    tokio::time::timeout(Duration::from_secs(15), running.shutdown())
        .await
        .expect("shutdown waited for a parked fetch")
        .unwrap();
    drop(socket);
}
