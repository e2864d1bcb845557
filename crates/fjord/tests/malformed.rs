//! Malformed input on raw TCP connections: the broker answers or closes the
//! connection, and keeps serving everyone else.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::raw::{api_versions_request, connect, expect_closed, frame, produce_raw, read_frame};
use common::TestBroker;
use fjord_testkit::batches::{self, Compression};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::Offset;
use tokio::io::AsyncWriteExt;

const MAX_REQUEST: usize = 1 << 20;

/// One uncompressed magic-v2 batch holding one record, to damage.
fn one_record_batch(value: &'static str) -> BytesMut {
    let record = batches::record(
        0,
        Some(Bytes::from_static(b"raw-key")),
        Some(Bytes::from_static(value.as_bytes())),
        common::now_ms(),
    );
    BytesMut::from(&batches::encode(&[record], Compression::None)[..])
}

/// After the abuse: a real client still produces and consumes.
async fn still_serves(bootstrap: &str, topic: &str, expected_offset: i64) {
    let producer = common::producer(bootstrap, &[("acks", "all")]);
    let d = producer
        .send(
            FutureRecord::to(topic)
                .partition(0)
                .key("ok")
                .payload("still serving"),
            Timeout::After(common::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce after malformed input: {e}"));
    assert_eq!(d.offset, expected_offset);
    let consumed = common::consume_n(
        bootstrap,
        topic,
        &[0],
        Offset::Offset(expected_offset),
        1,
        common::WAIT,
    )
    .await;
    assert_eq!(consumed[0].value.as_deref(), Some(&b"still serving"[..]));
}

async fn broker_with_small_requests() -> TestBroker {
    TestBroker::start(&[("socket.request.max.bytes", &MAX_REQUEST.to_string())]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_close_the_connection() {
    if common::skipped_for_external("checks its own broker's answers to malformed frames (scripts/diffcheck compares those with Kafka)") {
        return;
    }
    let broker = broker_with_small_requests().await;
    let addr = broker.running().local_addr();
    let topic = common::unique_topic("after-bad-frames");
    common::create_topic(&broker.bootstrap(), &topic, 1, &[]).await;

    // A connection that stays open and idle throughout must not be disturbed.
    let mut bystander = connect(addr).await;

    let mut s = connect(addr).await;
    s.write_all(&(-1i32).to_be_bytes()).await.unwrap();
    expect_closed(&mut s, "negative length").await;

    let mut s = connect(addr).await;
    s.write_all(&i32::MIN.to_be_bytes()).await.unwrap();
    expect_closed(&mut s, "i32::MIN length").await;

    // 2 MiB claimed, 1 MiB allowed: closed on the length alone, no body needed.
    let mut s = connect(addr).await;
    s.write_all(&((2 * MAX_REQUEST) as i32).to_be_bytes())
        .await
        .unwrap();
    expect_closed(&mut s, "length over socket.request.max.bytes").await;

    // i32::MAX: no allocation of that size, just a close.
    let mut s = connect(addr).await;
    s.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
    s.write_all(&[0u8; 1024]).await.unwrap();
    expect_closed(&mut s, "i32::MAX length").await;

    // A frame shorter than a request header.
    let mut s = connect(addr).await;
    s.write_all(&[0, 0, 0, 3, 0, 18, 0]).await.unwrap();
    expect_closed(&mut s, "frame shorter than a header").await;

    // Truncated frame, then the client half-closes: the broker closes too.
    let mut s = connect(addr).await;
    let whole = api_versions_request(1);
    s.write_all(&whole[..whole.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap();
    expect_closed(&mut s, "truncated frame then EOF").await;

    // Truncated frame, then a hard close without waiting.
    let mut s = connect(addr).await;
    s.write_all(&whole[..7]).await.unwrap();
    drop(s);

    // Unknown API key.
    let mut s = connect(addr).await;
    s.write_all(&frame(9999, 0, 5, 1, &[])).await.unwrap();
    expect_closed(&mut s, "unknown api key 9999").await;

    // Known key at an unsupported version (Produce v2 was removed).
    let mut s = connect(addr).await;
    s.write_all(&frame(ApiKey::Produce as i16, 2, 6, 1, &[0; 16]))
        .await
        .unwrap();
    expect_closed(&mut s, "Produce v2").await;

    // A body that does not decode.
    let mut s = connect(addr).await;
    s.write_all(&frame(
        ApiKey::Metadata as i16,
        12,
        7,
        ApiKey::Metadata.request_header_version(12),
        &[0xFF, 0xFF, 0xFF],
    ))
    .await
    .unwrap();
    expect_closed(&mut s, "undecodable Metadata body").await;

    // The idle bystander still gets answers.
    bystander
        .write_all(&api_versions_request(77))
        .await
        .unwrap();
    let mut answer = read_frame(&mut bystander).await;
    let header = ResponseHeader::decode(&mut answer, 0).unwrap();
    assert_eq!(header.correlation_id, 77);
    let response = ApiVersionsResponse::decode(&mut answer, 3).unwrap();
    assert_eq!(response.error_code, 0);

    still_serves(&broker.bootstrap(), &topic, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_versions_at_unknown_version_gets_v0_shaped_error() {
    if common::skipped_for_external("checks its own broker's answers to malformed frames (scripts/diffcheck compares those with Kafka)") {
        return;
    }
    let broker = broker_with_small_requests().await;
    let addr = broker.running().local_addr();
    let mut s = connect(addr).await;
    // Header v2 as a new client would send; the broker must not parse beyond
    // what it knows.
    s.write_all(&frame(ApiKey::ApiVersions as i16, 99, 1234, 2, &[0, 0, 0]))
        .await
        .unwrap();
    let mut answer = read_frame(&mut s).await;
    let header = ResponseHeader::decode(&mut answer, 0).unwrap();
    assert_eq!(header.correlation_id, 1234);
    let response = ApiVersionsResponse::decode(&mut answer, 0).unwrap();
    assert!(answer.is_empty(), "a v0 body and nothing more");
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    let api_versions = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .expect("ApiVersions listed");
    assert_eq!((api_versions.min_version, api_versions.max_version), (0, 4));
    // Only ApiVersions itself, as Kafka 4.1 answers (scripts/diffcheck).
    assert_eq!(response.api_keys.len(), 1);

    // The same connection then works at a version we know, and pipelined
    // requests are answered in order.
    let mut pipelined = BytesMut::new();
    for correlation_id in [1, 2, 3] {
        pipelined.put_slice(&api_versions_request(correlation_id));
    }
    s.write_all(&pipelined).await.unwrap();
    for correlation_id in [1, 2, 3] {
        let mut answer = read_frame(&mut s).await;
        let header = ResponseHeader::decode(&mut answer, 0).unwrap();
        assert_eq!(header.correlation_id, correlation_id);
        let response = ApiVersionsResponse::decode(&mut answer, 3).unwrap();
        assert_eq!(response.error_code, 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_batch_gets_corrupt_message() {
    if common::skipped_for_external("checks its own broker's answers to malformed frames (scripts/diffcheck compares those with Kafka)") {
        return;
    }
    let broker = broker_with_small_requests().await;
    let addr = broker.running().local_addr();
    let topic = common::unique_topic("corrupt");
    common::create_topic(&broker.bootstrap(), &topic, 1, &[]).await;

    // A valid batch first: stored at offset 0.
    let good = one_record_batch("good");
    assert_eq!(
        produce_raw(addr, &topic, good.clone().freeze()).await,
        (0, 0)
    );

    // The same batch with one byte of the record flipped: CRC32C mismatch.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    let (error, _) = produce_raw(addr, &topic, bad.freeze()).await;
    assert_eq!(error, 2, "CORRUPT_MESSAGE");

    // A truncated batch (length field says more than there is).
    let truncated = good.clone().freeze().slice(..good.len() - 5);
    let (error, _) = produce_raw(addr, &topic, truncated).await;
    assert_eq!(error, 2, "a truncated batch is CORRUPT_MESSAGE");

    // Nothing but the good batch was stored.
    assert_eq!(
        common::watermarks(&broker.bootstrap(), &topic, 0).await,
        (0, 1)
    );

    let consumed = common::consume_n(
        &broker.bootstrap(),
        &topic,
        &[0],
        Offset::Beginning,
        1,
        common::WAIT,
    )
    .await;
    assert_eq!(consumed[0].key.as_deref(), Some(&b"raw-key"[..]));
    assert_eq!(consumed[0].value.as_deref(), Some(&b"good"[..]));

    still_serves(&broker.bootstrap(), &topic, 1).await;
}
