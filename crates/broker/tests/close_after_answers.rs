//! A request that closes the connection (malformed, unknown, or a response
//! over the frame limit) still lets the answers to the requests pipelined
//! before it go out, as Kafka, answering one request at a time, sends them.

use std::time::Duration;

use fjord_broker::{start, BrokerConfig};
use fjord_testkit::frames::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn answers_before_a_closing_request_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    // An ApiVersions v0 request (empty body).
    let mut bytes = Frame::raw(18, 0, 1)
        .correlation_id(7)
        .client_id(None)
        .with_body_bytes(&[])
        .to_vec();
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
