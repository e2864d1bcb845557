//! The exchange against what no well-behaved SASL client sends: SASL
//! requests where there is no SASL, oversized, garbage and truncated
//! frames. The broker answers or closes that one connection and serves the
//! others.

use bytes::Bytes;
use fjord_testkit::frames::request;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::tests::*;

#[tokio::test]
async fn the_sasl_requests_on_a_plaintext_listener_are_an_illegal_state_that_keeps_it_open() {
    let sasl = broker(&[]).await;
    let addr = sasl
        .running
        .listener_addr("PLAINTEXT")
        .expect("plaintext listener");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let shaken = handshake(&mut stream, 1, "PLAIN").await;
    assert_eq!(shaken.error_code, ResponseError::IllegalSaslState.code());
    assert!(shaken.mechanisms.is_empty());
    let refused = authenticate(&mut stream, &plain("alice", "alice-pw")).await;
    assert_eq!(
        refused.map(|r| r.error_code),
        Some(ResponseError::IllegalSaslState.code())
    );
    assert!(metadata_served(&mut stream).await);
}

#[tokio::test]
async fn a_frame_over_sasl_server_max_receive_size_before_authentication_closes() {
    let sasl = broker(&[("sasl.server.max.receive.size", "1024")]).await;
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
    // Only the length: the broker refuses it before the rest arrives.
    send(&mut stream, Bytes::from_static(&[0, 0, 4, 1])).await;
    expect_closed(&mut stream).await;
    // Once authenticated, frames are bounded by socket.request.max.bytes only.
    let mut stream = sasl.connect().await;
    assert_eq!(login(&mut stream, "alice", "alice-pw").await.error_code, 0);
    let topics = (0..100)
        .map(|i| {
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default().with_name(
                Some(kafka_protocol::messages::TopicName(StrBytes::from(
                    format!("a-topic-with-a-long-name-{i:04}"),
                ))),
            )
        })
        .collect();
    let big = request(
        ApiKey::Metadata,
        12,
        7,
        &MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(false),
    );
    assert!(big.len() > 2048);
    send(&mut stream, big).await;
    assert!(read_frame(&mut stream).await.is_some());
}

#[tokio::test]
async fn garbage_and_truncated_exchanges_close_only_their_connection() {
    let sasl = broker(&[]).await;
    let mut bystander = sasl.connect().await;
    assert_eq!(
        login(&mut bystander, "alice", "alice-pw").await.error_code,
        0
    );

    for garbage in [
        &b""[..],
        b"\0",
        b"\0\0\0\0",
        &[0xff; 300],
        b"n,,\x01auth=Bearer x\x01\x01",
    ] {
        let mut stream = sasl.connect().await;
        assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
        let failed = authenticate(&mut stream, garbage).await.expect("answered");
        assert_eq!(
            failed.error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
        expect_closed(&mut stream).await;
    }
    // Garbage where a v0 token is expected gets nothing and a close.
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 0, "PLAIN").await.error_code, 0);
    assert_eq!(raw_token(&mut stream, &[0xfe; 64]).await, None);
    // A frame cut in the middle, then the client goes away.
    let mut stream = sasl.connect().await;
    assert_eq!(handshake(&mut stream, 1, "PLAIN").await.error_code, 0);
    stream
        .write_all(&[0, 0, 0, 40, 0, 36, 0, 2])
        .await
        .expect("written");
    drop(stream);

    assert!(metadata_served(&mut bystander).await);
    let mut fresh = sasl.connect().await;
    assert_eq!(login(&mut fresh, "bob", "bob-pw").await.error_code, 0);
}
