//! The zero-copy cases, run by tests/zero_copy.rs as the kernel is and by
//! tests/zero_copy_without_cachestat.rs as on a kernel without cachestat(2).
//!
//! Zero-copy fetch through a real listener: the answers whose records go
//! from the segment files to the socket with sendfile are byte for byte
//! the answers the in-memory path gives (the path a read hook forces),
//! across segment boundaries, size limits, the first-batch rule, versions,
//! isolation levels and a consumer that reads slowly; and a fetch racing
//! the deletion of its segments gets whole batches or an error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use fjord_broker::{start, BrokerConfig, RunningBroker};
use fjord_storage::batch::{batches, BatchView};
use fjord_storage::local::install_read_hook;
use fjord_storage::{Durability, LogConfig, PartitionLog};
use fjord_testkit::batches::{batch_with, now_ms};
use fjord_testkit::frames::request;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::Compression;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOPIC: &str = "zc";
const PARTITIONS: i32 = 3;

/// A broker with topic "zc" of three partitions whose logs hold batches of
/// varied sizes over segments of ~1500 bytes. Returns the logs too.
async fn broker_with_data(config: BrokerConfig) -> (RunningBroker, Vec<Arc<dyn PartitionLog>>) {
    let running = start(config).await.unwrap();
    running
        .broker()
        .topics
        .create(TOPIC, PARTITIONS, BTreeMap::new(), false)
        .await
        .unwrap();
    let mut logs = Vec::new();
    for partition in 0..PARTITIONS {
        let log = running
            .broker()
            .topics
            .readable_partition(TOPIC, partition)
            .unwrap();
        log.set_config(LogConfig {
            segment_bytes: 1500,
            index_interval_bytes: 1,
            ..log.config()
        });
        for i in 0..20usize {
            let size = 10 + (i * 53 + partition as usize * 17) % 400;
            let one = batch_with(1 + i % 5, Compression::None, now_ms(), size);
            log.append(one, Durability::Written).await.unwrap();
        }
        logs.push(log);
    }
    (running, logs)
}

struct Ask {
    version: i16,
    offsets: [i64; PARTITIONS as usize],
    max_bytes: i32,
    partition_max_bytes: i32,
    isolation_level: i8,
}

fn fetch_request(ask: &Ask, topic_id: uuid::Uuid) -> FetchRequest {
    let mut topic = FetchTopic::default();
    if ask.version >= 13 {
        topic.topic_id = topic_id;
    } else {
        topic.topic = TopicName(StrBytes::from_static_str(TOPIC));
    }
    topic.partitions = (0..PARTITIONS)
        .map(|p| {
            let mut partition = FetchPartition::default();
            partition.partition = p;
            partition.fetch_offset = ask.offsets[p as usize];
            partition.partition_max_bytes = ask.partition_max_bytes;
            partition
        })
        .collect();
    let mut fetch = FetchRequest::default();
    fetch.max_wait_ms = 0;
    fetch.min_bytes = 0;
    fetch.max_bytes = ask.max_bytes;
    fetch.isolation_level = ask.isolation_level;
    fetch.topics = vec![topic];
    fetch
}

async fn read_frame<S: AsyncRead + Unpin>(socket: &mut S) -> Bytes {
    let len = socket.read_i32().await.unwrap();
    let mut frame = vec![0u8; len as usize];
    socket.read_exact(&mut frame).await.unwrap();
    Bytes::from(frame)
}

/// Each ask's answer frame, asked one at a time.
async fn fetch_each<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut S,
    asks: &[Ask],
    topic_id: uuid::Uuid,
) -> Vec<Bytes> {
    let mut frames = Vec::new();
    for (i, ask) in asks.iter().enumerate() {
        let body = fetch_request(ask, topic_id);
        socket
            .write_all(&request(ApiKey::Fetch, ask.version, i as i32, &body))
            .await
            .unwrap();
        frames.push(read_frame(socket).await);
    }
    frames
}

/// The records of every partition of a decoded answer.
fn records_of(frame: &Bytes, version: i16) -> Vec<Bytes> {
    let mut body = frame.clone();
    ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version)).unwrap();
    let response = FetchResponse::decode(&mut body, version).unwrap();
    assert!(!body.has_remaining(), "trailing bytes");
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.records.clone().unwrap_or_default())
        .collect()
}

fn asks() -> Vec<Ask> {
    let mut asks = Vec::new();
    for version in [4, 7, 11, 12, 13, 16, 18] {
        for (max_bytes, partition_max_bytes) in [
            (0, 1 << 20),
            (1, 1),
            (200, 1 << 20),
            (1 << 20, 300),
            (1 << 20, 1499),
            (2500, 1000),
            (50 << 20, 50 << 20),
        ] {
            for offsets in [[0, 0, 0], [7, 31, 2], [40, 0, 59]] {
                asks.push(Ask {
                    version,
                    offsets,
                    max_bytes,
                    partition_max_bytes,
                    isolation_level: (version % 2) as i8,
                });
            }
        }
    }
    asks
}

pub async fn sendfile_answers_are_the_in_memory_answers_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (running, _logs) = broker_with_data(BrokerConfig::for_tests(dir.path())).await;
    let topic_id = running.broker().topics.get(TOPIC).unwrap().id;
    let mut socket = TcpStream::connect(running.local_addr()).await.unwrap();
    let asks = asks();
    let zero_copy = fetch_each(&mut socket, &asks, topic_id).await;
    // A hook on the data dir makes every read go through memory.
    let hook = install_read_hook(dir.path(), Arc::new(|_| {}));
    let in_memory = fetch_each(&mut socket, &asks, topic_id).await;
    drop(hook);
    let mut records_seen = 0;
    let mut segments_crossed = false;
    for (i, (ask, in_memory)) in asks.iter().zip(in_memory).enumerate() {
        assert_eq!(
            zero_copy[i], in_memory,
            "v{} offsets {:?} max_bytes {} partition_max_bytes {}",
            ask.version, ask.offsets, ask.max_bytes, ask.partition_max_bytes
        );
        for records in records_of(&in_memory, ask.version) {
            records_seen += records.len();
            segments_crossed |= records.len() > 1500;
        }
    }
    assert!(
        records_seen > 100_000,
        "{records_seen} bytes of records compared"
    );
    assert!(segments_crossed);
}

/// Over a TLS listener the record bytes are copied through the
/// connection's reused buffer and encrypted: the answers are byte for
/// byte the plaintext listener's.
pub async fn tls_answers_are_the_plaintext_answers_byte_for_byte() {
    use fjord_testkit::tls::TestCa;
    use rustls::pki_types::ServerName;

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("zero-copy test CA");
    let (_, _, keystore) = ca.server().write(dir.path(), "server");
    let config = BrokerConfig::for_tests(dir.path().join("data"))
        .with("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")
        .with("ssl.keystore.location", keystore.display());
    let (running, _logs) = broker_with_data(config).await;
    let topic_id = running.broker().topics.get(TOPIC).unwrap().id;
    let asks = asks();
    let mut plaintext = TcpStream::connect(running.local_addr()).await.unwrap();
    let expected = fetch_each(&mut plaintext, &asks, topic_id).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.der()))
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(running.listener_addr("SSL").unwrap())
        .await
        .unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let over_tls = fetch_each(&mut tls, &asks, topic_id).await;
    let mut records_seen = 0;
    for (i, ask) in asks.iter().enumerate() {
        assert_eq!(
            over_tls[i], expected[i],
            "v{} offsets {:?} max_bytes {} partition_max_bytes {}",
            ask.version, ask.offsets, ask.max_bytes, ask.partition_max_bytes
        );
        records_seen += records_of(&expected[i], ask.version)
            .iter()
            .map(Bytes::len)
            .sum::<usize>();
    }
    assert!(
        records_seen > 100_000,
        "{records_seen} bytes of records compared"
    );
}

/// Pipelined fetches of megabytes to a client whose receive buffer is tiny
/// and who reads a little at a time: sendfile meets a full socket again and
/// again (partial sends, EAGAIN), and the answers still arrive whole, in
/// order, as the in-memory path makes them.
pub async fn a_slow_reader_gets_the_same_bytes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (running, logs) = broker_with_data(BrokerConfig::for_tests(dir.path())).await;
    // Larger batches, so the answers are megabytes.
    for log in &logs {
        for i in 0..12usize {
            let one = batch_with(4, Compression::None, now_ms(), 60_000 + i * 1000);
            log.append(one, Durability::Written).await.unwrap();
        }
    }
    let topic_id = running.broker().topics.get(TOPIC).unwrap().id;
    let asks: Vec<Ask> = [0, 20, 60]
        .into_iter()
        .map(|offset| Ask {
            version: 12,
            offsets: [offset; 3],
            max_bytes: 50 << 20,
            partition_max_bytes: 1 << 20,
            isolation_level: 0,
        })
        .collect();
    let mut pipelined = Vec::new();
    for (i, ask) in asks.iter().enumerate() {
        pipelined.extend_from_slice(&request(
            ApiKey::Fetch,
            12,
            i as i32,
            &fetch_request(ask, topic_id),
        ));
    }

    // What the in-memory path answers, on another connection.
    let expected = {
        let _hook = install_read_hook(dir.path(), Arc::new(|_| {}));
        let mut fast = TcpStream::connect(running.local_addr()).await.unwrap();
        fast.write_all(&pipelined).await.unwrap();
        let mut expected = Vec::new();
        for _ in &asks {
            let frame = read_frame(&mut fast).await;
            expected.extend_from_slice(&(frame.len() as i32).to_be_bytes());
            expected.extend_from_slice(&frame);
        }
        expected
    };
    assert!(expected.len() > 2 << 20, "{} bytes", expected.len());

    let slow = TcpSocket::new_v4().unwrap();
    slow.set_recv_buffer_size(4096).unwrap();
    let mut slow = slow.connect(running.local_addr()).await.unwrap();
    slow.write_all(&pipelined).await.unwrap();
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while received.len() < expected.len() {
        let n = slow.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed after {} bytes", received.len());
        received.extend_from_slice(&chunk[..n]);
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "the slow reader's bytes differ");
}

/// DeleteRecords deleting the segments a fetch is sending from: the
/// answers carry whole batches with valid CRCs (the open file outlives the
/// unlink) or OFFSET_OUT_OF_RANGE, never torn bytes.
pub async fn a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (running, logs) = broker_with_data(BrokerConfig::for_tests(dir.path())).await;
    for log in &logs {
        for _ in 0..40 {
            let one = batch_with(2, Compression::None, now_ms(), 20_000);
            log.append(one, Durability::Written).await.unwrap();
        }
    }
    let topic_id = running.broker().topics.get(TOPIC).unwrap().id;
    let ends: Vec<i64> = logs.iter().map(|l| l.log_end_offset()).collect();
    let deleter = {
        let logs = logs.clone();
        tokio::spawn(async move {
            for step in 1..=40 {
                for log in &logs {
                    let target = (log.log_end_offset() * step / 40).max(log.log_start_offset());
                    log.delete_records_before(target).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let slow = TcpSocket::new_v4().unwrap();
    slow.set_recv_buffer_size(8192).unwrap();
    let mut socket = slow.connect(running.local_addr()).await.unwrap();
    let (mut whole, mut out_of_range) = (0, 0);
    for i in 0..40 {
        let ask = Ask {
            version: 12,
            offsets: [0; 3],
            max_bytes: 50 << 20,
            partition_max_bytes: 1 << 20,
            isolation_level: 0,
        };
        socket
            .write_all(&request(
                ApiKey::Fetch,
                12,
                i,
                &fetch_request(&ask, topic_id),
            ))
            .await
            .unwrap();
        let frame = read_frame(&mut socket).await;
        let mut body = frame.clone();
        ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(12)).unwrap();
        let response = FetchResponse::decode(&mut body, 12).unwrap();
        for partition in response.responses.iter().flat_map(|t| t.partitions.iter()) {
            if partition.error_code == 1 {
                out_of_range += 1;
                continue;
            }
            assert_eq!(partition.error_code, 0);
            let records = partition.records.clone().unwrap_or_default();
            let mut size = 0;
            for batch in batches(&records) {
                let batch: BatchView = batch.expect("whole batches");
                assert!(
                    batch.crc_is_valid(),
                    "torn batch at {}",
                    batch.base_offset()
                );
                size += batch.size();
            }
            assert_eq!(size, records.len());
            whole += 1;
        }
    }
    deleter.await.unwrap();
    assert!(
        whole > 0 && out_of_range > 0,
        "{whole} whole, {out_of_range} out of range"
    );
    assert!(logs
        .iter()
        .zip(ends)
        .all(|(l, end)| l.log_start_offset() == end));
}
