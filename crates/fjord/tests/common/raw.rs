//! Raw Kafka frames over plain TCP, for tests that must send what no real
//! client would (malformed, trickled, pipelined without reading). The
//! frames themselves are built by `fjord_testkit::frames`.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use fjord_testkit::frames::Frame;
pub use fjord_testkit::frames::{api_versions_request, request};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ProduceRequest, ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Connects from `local` (any 127.x.y.z is loopback on Linux, so a test can
/// be several client addresses at once).
pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(local, 0))
        .expect("bind client address");
    socket.connect(addr).await.expect("connect")
}

/// The broker must close the connection without answering.
pub async fn expect_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(super::WAIT, stream.read(&mut buf)).await {
        Ok(Ok(0)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Ok(n)) => panic!("{what}: expected the connection closed, got {n} bytes"),
        Ok(Err(e)) => panic!("{what}: expected the connection closed, got {e}"),
        Err(_) => panic!("{what}: connection still open after {:?}", super::WAIT),
    }
}

/// A whole request frame with any api key, version and header version.
pub fn frame(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
) -> Bytes {
    Frame::raw(api_key, version, header_version)
        .correlation_id(correlation_id)
        .client_id(Some("raw-test"))
        .with_body_bytes(body)
}

pub async fn read_frame(stream: &mut TcpStream) -> Bytes {
    let mut len = [0u8; 4];
    tokio::time::timeout(super::WAIT, stream.read_exact(&mut len))
        .await
        .expect("answer in time")
        .expect("read length");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    tokio::time::timeout(super::WAIT, stream.read_exact(&mut body))
        .await
        .expect("answer in time")
        .expect("read body");
    Bytes::from(body)
}

/// Sends an ApiVersions request and checks that its answer comes back.
pub async fn api_versions_answered(stream: &mut TcpStream, correlation_id: i32) {
    stream
        .write_all(&api_versions_request(correlation_id))
        .await
        .expect("send ApiVersions");
    let mut answer = read_frame(stream).await;
    let header = ResponseHeader::decode(&mut answer, 0).expect("response header");
    assert_eq!(header.correlation_id, correlation_id);
    let response = ApiVersionsResponse::decode(&mut answer, 3).expect("ApiVersions body");
    assert_eq!(response.error_code, 0);
    assert!(!response.api_keys.is_empty());
}

/// Sends a Produce v9 with `records` to partition 0 of `topic`; returns the
/// partition's (error code, base offset).
pub async fn produce_raw(addr: SocketAddr, topic: &str, records: Bytes) -> (i16, i64) {
    let version = 9;
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let mut stream = connect(addr).await;
    stream
        .write_all(&request(ApiKey::Produce, version, 42, &produce))
        .await
        .unwrap();
    let mut answer = read_frame(&mut stream).await;
    let header = ResponseHeader::decode(
        &mut answer,
        ApiKey::Produce.response_header_version(version),
    )
    .unwrap();
    assert_eq!(header.correlation_id, 42);
    let response = ProduceResponse::decode(&mut answer, version).unwrap();
    assert_eq!(response.responses.len(), 1);
    let partitions = &response.responses[0].partition_responses;
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].index, 0);
    (partitions[0].error_code, partitions[0].base_offset)
}
