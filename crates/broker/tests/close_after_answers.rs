//! A request that closes the connection (malformed, unknown, or a response
//! over the frame limit) still lets the answers to the requests pipelined
//! before it go out, as Kafka, answering one request at a time, sends them.

use std::time::Duration;

use fjord_broker::{start, BrokerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An ApiVersions v0 request (empty body) with this correlation id.
fn api_versions(correlation_id: i32) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&18i16.to_be_bytes());
    payload.extend_from_slice(&0i16.to_be_bytes());
    payload.extend_from_slice(&correlation_id.to_be_bytes());
    payload.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

#[tokio::test]
async fn answers_before_a_closing_request_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    let mut bytes = api_versions(7);
    // Api key 32000 does not exist: the broker closes the connection.
    bytes.extend_from_slice(&[0, 0, 0, 8, 0x7d, 0x00, 0, 0, 0, 0, 0, 8]);
    let mut socket = TcpStream::connect(broker.bootstrap()).await.unwrap();
    socket.write_all(&bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "broker neither answered nor closed");
    assert!(answer.len() > 8, "no answer before the close: {answer:?}");
    let length = i32::from_be_bytes(answer[..4].try_into().unwrap()) as usize;
    assert_eq!(answer.len(), 4 + length, "exactly the one framed answer");
    assert_eq!(i32::from_be_bytes(answer[4..8].try_into().unwrap()), 7);
    broker.shutdown().await.unwrap();
}
