//! `max.connections`, `max.connections.per.ip` (and its overrides) and
//! `connections.max.idle.ms`, with Kafka's meanings: past max.connections a
//! new client waits for a slot; past its address's limit it is closed at
//! once; a connection without traffic for the idle time is closed.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use common::raw::{self, api_versions_answered, connect, connect_from, expect_closed};
use common::TestBroker;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn addr(broker: &TestBroker) -> SocketAddr {
    broker.running().local_addr()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Nothing comes back within `window` (the connection waits for a slot).
async fn expect_no_answer(stream: &mut TcpStream, window: Duration) {
    let mut buf = [0u8; 16];
    if let Ok(read) = tokio::time::timeout(window, stream.read(&mut buf)).await {
        panic!("expected no answer while waiting for a slot, got {read:?}");
    }
}

/// A real client still produces and reads back.
async fn still_serves(bootstrap: &str) {
    let topic = common::unique_topic("limits");
    common::create_topic(bootstrap, &topic, 1, &[]).await;
    let producer = common::producer(bootstrap, &[("acks", "all")]);
    let delivered = producer
        .send(
            rdkafka::producer::FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload("served"),
            rdkafka::util::Timeout::After(common::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    assert_eq!(delivered.offset, 0);
    let consumed = common::consume_n(
        bootstrap,
        &topic,
        &[0],
        rdkafka::Offset::Beginning,
        1,
        common::WAIT,
    )
    .await;
    assert_eq!(consumed[0].value.as_deref(), Some(&b"served"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_a_new_client_waits_for_a_slot() {
    if common::skipped_for_external("starts its broker with connection limits") {
        return;
    }
    let broker = TestBroker::start(&[("max.connections", "4")]).await;
    let mut held = Vec::new();
    for i in 0..4 {
        let mut stream = connect(addr(&broker)).await;
        api_versions_answered(&mut stream, i).await;
        held.push(stream);
    }
    // The fifth connects (the listen backlog takes it) but is not served...
    let mut waiting = connect(addr(&broker)).await;
    waiting
        .write_all(&raw::api_versions_request(5))
        .await
        .unwrap();
    expect_no_answer(&mut waiting, Duration::from_millis(700)).await;
    // ...until one of the four closes; then its request is answered.
    drop(held.pop());
    let mut answer = raw::read_frame(&mut waiting).await;
    let header = ResponseHeader::decode(&mut answer, 0).unwrap();
    assert_eq!(header.correlation_id, 5);
    drop(held);
    drop(waiting);
    still_serves(&broker.bootstrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_per_ip_a_new_connection_is_closed_at_once() {
    if common::skipped_for_external("starts its broker with connection limits") {
        return;
    }
    // 127.0.0.2 and .3 stand for two client hosts; rdkafka comes from .1,
    // which an override exempts.
    let broker = TestBroker::start(&[
        ("max.connections.per.ip", "2"),
        (
            "max.connections.per.ip.overrides",
            "127.0.0.1:1000, 127.0.0.3:1",
        ),
    ])
    .await;
    let broker_addr = addr(&broker);
    let mut first = connect_from(ip("127.0.0.2"), broker_addr).await;
    let mut second = connect_from(ip("127.0.0.2"), broker_addr).await;
    api_versions_answered(&mut first, 1).await;
    api_versions_answered(&mut second, 2).await;
    let mut third = connect_from(ip("127.0.0.2"), broker_addr).await;
    let refused_at = Instant::now();
    expect_closed(&mut third, "third connection from 127.0.0.2").await;
    assert!(refused_at.elapsed() < Duration::from_secs(2));

    // An override lowers the limit for one address; others are unaffected.
    let mut only = connect_from(ip("127.0.0.3"), broker_addr).await;
    api_versions_answered(&mut only, 3).await;
    let mut over = connect_from(ip("127.0.0.3"), broker_addr).await;
    expect_closed(&mut over, "second connection from 127.0.0.3").await;

    // A closed connection gives its place back.
    drop(first);
    common::wait_for(
        "a place for 127.0.0.2 again",
        common::WAIT,
        move || async move {
            let mut again = connect_from(ip("127.0.0.2"), broker_addr).await;
            again.write_all(&raw::api_versions_request(4)).await.ok()?;
            let mut len = [0u8; 4];
            match tokio::time::timeout(Duration::from_secs(2), again.read_exact(&mut len)).await {
                Ok(Ok(_)) => Some(()),
                _ => None,
            }
        },
    )
    .await;
    still_serves(&broker.bootstrap()).await;
    drop((second, only));
}

/// A Fetch v12 of partition 0 of `topic` that waits up to `max_wait` for a byte.
fn long_poll(topic: &str, max_wait: Duration) -> bytes::Bytes {
    let mut partition = FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut fetch_topic = FetchTopic::default();
    fetch_topic.topic = TopicName(StrBytes::from_string(topic.to_string()));
    fetch_topic.partitions = vec![partition];
    let mut fetch = FetchRequest::default();
    fetch.replica_id = (-1).into();
    fetch.max_wait_ms = max_wait.as_millis() as i32;
    fetch.min_bytes = 1;
    fetch.max_bytes = 1 << 20;
    fetch.session_epoch = -1;
    fetch.topics = vec![fetch_topic];
    raw::request(ApiKey::Fetch, 12, 9, &fetch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_idle_for_connections_max_idle_ms_are_closed() {
    if common::skipped_for_external("starts its broker with connection limits") {
        return;
    }
    let idle = Duration::from_millis(600);
    let broker =
        TestBroker::start(&[("connections.max.idle.ms", &idle.as_millis().to_string())]).await;
    let broker_addr = addr(&broker);

    // Served, then silent.
    let mut quiet = connect(broker_addr).await;
    api_versions_answered(&mut quiet, 1).await;
    let since = Instant::now();
    expect_closed(&mut quiet, "idle connection").await;
    let waited = since.elapsed();
    assert!(
        waited >= idle - Duration::from_millis(50) && waited < idle * 10,
        "closed after {waited:?} for an idle limit of {idle:?}"
    );

    // A frame whose body never comes.
    let mut stalled = connect(broker_addr).await;
    let mut start = BytesMut::new();
    start.put_i32(1 << 20);
    start.put_slice(&[0u8; 100]);
    stalled.write_all(&start).await.unwrap();
    expect_closed(&mut stalled, "frame whose body never comes").await;

    // Waiting on the broker is not idling: a long poll longer than the idle
    // limit is answered, not cut.
    let topic = common::unique_topic("idle");
    common::create_topic(&broker.bootstrap(), &topic, 1, &[]).await;
    let mut polling = connect(broker_addr).await;
    let poll = idle * 3;
    polling.write_all(&long_poll(&topic, poll)).await.unwrap();
    let asked = Instant::now();
    let mut answer = raw::read_frame(&mut polling).await;
    assert!(asked.elapsed() >= poll - Duration::from_millis(50));
    let header = ResponseHeader::decode(&mut answer, 1).unwrap();
    assert_eq!(header.correlation_id, 9);

    // Answers the client never takes: the broker's write makes no progress,
    // which is no traffic either; it closes, and our writes then fail.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut deaf = socket.connect(broker_addr).await.unwrap();
    let mut requests = BytesMut::new();
    for i in 0..1000 {
        requests.put_slice(&raw::api_versions_request(i));
    }
    let closed = tokio::time::timeout(common::WAIT, async {
        loop {
            if deaf.write_all(&requests).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a client that never reads was never closed");

    still_serves(&broker.bootstrap()).await;
}
