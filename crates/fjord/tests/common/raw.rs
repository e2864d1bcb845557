//! Raw Kafka frames over plain TCP, for tests that must send what no real
//! client would (malformed, trickled, pipelined without reading).

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
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

/// A whole request frame: length, header (at the header version the api
/// key and version call for), body bytes.
pub fn frame(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("raw-test")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, header_version)
        .expect("encode header");
    payload.put_slice(body);
    let mut out = BytesMut::new();
    out.put_i32(payload.len() as i32);
    out.put_slice(&payload);
    out.freeze()
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

pub fn api_versions_request(correlation_id: i32) -> Bytes {
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("raw"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    request(ApiKey::ApiVersions, 3, correlation_id, &body)
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

/// A whole request frame for `body` at `version`, header version as the
/// api key calls for.
pub fn request(key: ApiKey, version: i16, correlation_id: i32, body: &impl Encodable) -> Bytes {
    let mut bytes = BytesMut::new();
    body.encode(&mut bytes, version)
        .expect("encode request body");
    frame(
        key as i16,
        version,
        correlation_id,
        key.request_header_version(version),
        &bytes,
    )
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
