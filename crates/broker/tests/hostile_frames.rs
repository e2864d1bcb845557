//! Frames built to make the decoder allocate without bound: the broker must
//! close the connection and keep serving (vendor/README.md has the why).

use std::time::Duration;

use bytes::Bytes;
use fjord_broker::{start, BrokerConfig};
use fjord_testkit::frames::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn frame(api_key: i16, version: i16, flexible_header: bool, body: &[u8]) -> Bytes {
    let header_version = if flexible_header { 2 } else { 1 };
    Frame::raw(api_key, version, header_version)
        .correlation_id(42)
        .client_id(None)
        .with_body_bytes(body)
}

/// Sends the frame and returns what came back before the broker closed.
async fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "broker neither answered nor closed");
    answer
}

#[tokio::test]
async fn huge_array_counts_close_the_connection_and_the_broker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    let addr = broker.bootstrap();

    // Metadata v12: a compact array of 2^32 - 2 topics in a 5-byte body.
    let answer = exchange(&addr, &frame(3, 12, true, &[0xff, 0xff, 0xff, 0xff, 0x0f])).await;
    assert!(answer.is_empty());
    // Metadata v1: a classic array of i32::MAX topics.
    let answer = exchange(&addr, &frame(3, 1, false, &0x7fff_ffffi32.to_be_bytes())).await;
    assert!(answer.is_empty());

    // Still serving: ApiVersions v0 answers with the same correlation id and no error.
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket.write_all(&frame(18, 0, false, &[])).await.unwrap();
    let length = socket.read_i32().await.unwrap();
    assert!(length > 6);
    assert_eq!(socket.read_i32().await.unwrap(), 42);
    assert_eq!(socket.read_i16().await.unwrap(), 0);
    drop(socket);
    broker.shutdown().await.unwrap();
}
