//! A fetch held inside a slow read of the log (a cold disk, simulated by a
//! hook in the storage engine that sleeps in the read) holds up no other
//! connection: Produce and Metadata on other connections are answered at
//! once, and the fetch still answers with what was produced.
//!
//! The runtime has one worker thread, so a read done on a worker would
//! stall every connection for the whole delay.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use fjord_broker::{start, BrokerConfig};
use fjord_storage::local::{install_read_hook, ReadKind};
use fjord_testkit::batches;
use fjord_testkit::frames::request;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::Record;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const FETCH_VERSION: i16 = 12;
const PRODUCE_VERSION: i16 = 9;
const METADATA_VERSION: i16 = 12;
const READ_DELAY: Duration = Duration::from_secs(3);
/// Far above a loopback round trip, far below the read delay.
const PROMPT: Duration = Duration::from_millis(500);

async fn call<R: Decodable>(
    socket: &mut TcpStream,
    key: ApiKey,
    version: i16,
    body: &impl Encodable,
) -> R {
    socket
        .write_all(&request(key, version, 7, body))
        .await
        .unwrap();
    let len = socket.read_i32().await.unwrap();
    let mut frame = vec![0u8; len as usize];
    socket.read_exact(&mut frame).await.unwrap();
    let mut frame = Bytes::from(frame);
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    let body = R::decode(&mut frame, version).unwrap();
    assert!(
        !frame.has_remaining(),
        "trailing bytes in the {key:?} answer"
    );
    body
}

/// A batch already carrying the leader epoch the broker stamps (0), so the
/// batch stored is byte for byte the one sent but for its offsets.
fn batch(values: &[&str]) -> Bytes {
    let records: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            partition_leader_epoch: 0,
            ..batches::record(
                i,
                None,
                Some(Bytes::copy_from_slice(value.as_bytes())),
                batches::SOME_TIME_MS,
            )
        })
        .collect();
    batches::encode(&records, batches::Compression::None)
}

fn produce(topic: &str, records: Bytes) -> ProduceRequest {
    let mut partition = PartitionProduceData::default();
    partition.index = 0;
    partition.records = Some(records);
    let mut data = TopicProduceData::default();
    data.name = TopicName(StrBytes::from_string(topic.to_string()));
    data.partition_data = vec![partition];
    let mut request = ProduceRequest::default();
    request.acks = 1;
    request.timeout_ms = 5_000;
    request.topic_data = vec![data];
    request
}

/// Produces one batch; returns its base offset and how long the answer took.
async fn timed_produce(socket: &mut TcpStream, topic: &str, records: Bytes) -> (i64, Duration) {
    let started = Instant::now();
    let answer: ProduceResponse = call(
        socket,
        ApiKey::Produce,
        PRODUCE_VERSION,
        &produce(topic, records),
    )
    .await;
    let partition = &answer.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, 0);
    (partition.base_offset, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_slow_fetch_read_does_not_hold_up_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    running
        .broker()
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .unwrap();
    let first = batch(&["one", "two", "three"]);
    let mut producer = TcpStream::connect(running.bootstrap()).await.unwrap();
    assert_eq!(timed_produce(&mut producer, "t", first.clone()).await.0, 0);

    // The first fetch read sleeps in the engine, as a read from a cold disk waits.
    let entered = Arc::new(Notify::new());
    let slowed = Arc::new(AtomicBool::new(false));
    let _hook = {
        let entered = Arc::clone(&entered);
        install_read_hook(
            dir.path(),
            Arc::new(move |kind| {
                if kind == ReadKind::Fetch && !slowed.swap(true, Ordering::SeqCst) {
                    entered.notify_one();
                    std::thread::sleep(READ_DELAY);
                }
            }),
        )
    };
    let bootstrap = running.bootstrap();
    let fetching = tokio::spawn(async move {
        let mut partition = FetchPartition::default();
        partition.partition_max_bytes = 1 << 20;
        let mut topic = FetchTopic::default();
        topic.topic = TopicName(StrBytes::from_static_str("t"));
        topic.partitions = vec![partition];
        let mut fetch = FetchRequest::default();
        fetch.max_wait_ms = 0;
        fetch.max_bytes = 1 << 20;
        fetch.topics = vec![topic];
        let mut consumer = TcpStream::connect(bootstrap).await.unwrap();
        let started = Instant::now();
        let answer: FetchResponse = call(&mut consumer, ApiKey::Fetch, FETCH_VERSION, &fetch).await;
        (answer, started.elapsed())
    });
    tokio::time::timeout(Duration::from_secs(10), entered.notified())
        .await
        .expect("the fetch reached the read");

    // Meanwhile, on other connections: a produce and a metadata request.
    let (offset, took) = timed_produce(&mut producer, "t", batch(&["four"])).await;
    assert_eq!(offset, 3);
    assert!(took < PROMPT, "produce took {took:?} during a slow read");
    let mut admin = TcpStream::connect(running.bootstrap()).await.unwrap();
    let mut topic = MetadataRequestTopic::default();
    topic.name = Some(TopicName(StrBytes::from_static_str("t")));
    let mut metadata = MetadataRequest::default();
    metadata.topics = Some(vec![topic]);
    let started = Instant::now();
    let answer: MetadataResponse =
        call(&mut admin, ApiKey::Metadata, METADATA_VERSION, &metadata).await;
    let took = started.elapsed();
    assert_eq!(answer.topics.len(), 1);
    assert_eq!(answer.topics[0].error_code, 0);
    assert!(took < PROMPT, "metadata took {took:?} during a slow read");

    // The fetch itself waited for its read, and got the records it read.
    let (answer, took) = fetching.await.unwrap();
    assert!(
        took >= READ_DELAY,
        "the fetch did not go through the slow read"
    );
    let partition = &answer.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let records = partition.records.clone().unwrap_or_default();
    // The read started before the second produce: it holds the first batch,
    // byte for byte except the offsets and epoch the broker stamps (zero here).
    assert_eq!(records, first);
    running.shutdown().await.unwrap();
}
