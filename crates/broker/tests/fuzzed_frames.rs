//! Random and mutated request bodies for every API and version we accept:
//! the broker answers or closes each connection, never panics or hangs, and
//! keeps serving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fjord_broker::api::APIS;
use fjord_broker::{start, BrokerConfig};
use fjord_testkit::frames::Frame;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on any thread: a connection task that panics looks like a
/// closed connection from outside, so the tests check this count instead.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// xorshift64*: deterministic, so a failure replays. `FJORD_FUZZ_SEED`
/// explores other inputs.
struct Rng(u64);

impl Rng {
    fn seeded(default: u64) -> Self {
        let seed = std::env::var("FJORD_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A frame with correlation id 7, whatever the api key and header version.
fn frame(api_key: i16, version: i16, header_version: i16, body: &[u8]) -> Bytes {
    Frame::raw(api_key, version, header_version)
        .correlation_id(7)
        .client_id(Some("fuzz"))
        .with_body_bytes(body)
}

/// Bodies that are mostly small numbers, lengths and -1s: the shapes that
/// reach deep into a decoder, not just fail its first field.
fn random_body(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(96) as usize;
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        match rng.below(6) {
            0 => body.push(0),
            1 => body.push(1),
            2 => body.extend_from_slice(&[0xff, 0xff]),
            3 => body.push(rng.below(8) as u8),
            4 => body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            _ => body.push(rng.next() as u8),
        }
    }
    body
}

/// Sends one frame; the broker must answer or close within the timeout.
/// Fetch, JoinGroup and SyncGroup may legitimately wait as long as the
/// (mutated) request asks, so for them only a short wait is spent and a
/// silence is accepted.
async fn send(addr: &str, bytes: &[u8]) {
    let api_key = i16::from_be_bytes([bytes[4], bytes[5]]);
    let may_park = [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup]
        .iter()
        .any(|k| *k as i16 == api_key);
    let limit = Duration::from_secs(if may_park { 1 } else { 10 });
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket.write_all(bytes).await.expect("write");
    socket.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    let outcome = tokio::time::timeout(limit, socket.read_to_end(&mut answer)).await;
    assert!(
        outcome.is_ok() || may_park,
        "no answer or close within {limit:?} for {:?}",
        &bytes[..bytes.len().min(16)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_for_every_api_and_version() {
    count_panics();
    let dir = tempfile::tempdir().unwrap();
    let broker = start(BrokerConfig::for_tests(dir.path())).await.unwrap();
    let addr = broker.bootstrap();
    let mut rng = Rng::seeded(0x5eed_f10d);
    for api in APIS {
        for version in api.min_supported..=api.max {
            let header_version = api.key.request_header_version(version);
            for _ in 0..12 {
                let body = random_body(&mut rng);
                send(
                    &addr,
                    &frame(api.key as i16, version, header_version, &body),
                )
                .await;
            }
        }
    }
    // Still serving: ApiVersions v0 answers with our correlation id and no error.
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket.write_all(&frame(18, 0, 1, &[])).await.unwrap();
    assert!(socket.read_i32().await.unwrap() > 6);
    assert_eq!(socket.read_i32().await.unwrap(), 7);
    assert_eq!(socket.read_i16().await.unwrap(), 0);
    drop(socket);
    broker.shutdown().await.unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the broker panicked");
}

/// A small valid request of each kind we serve, to be mutated.
fn sample_request(key: ApiKey) -> Option<RequestKind> {
    let name = || TopicName(StrBytes::from_static_str("fuzz-topic"));
    let group = || GroupId(StrBytes::from_static_str("fuzz-group"));
    Some(match key {
        ApiKey::Produce => {
            let mut partition = produce_request::PartitionProduceData::default();
            partition.records = Some(bytes::Bytes::from_static(&[0u8; 70]));
            let mut topic = produce_request::TopicProduceData::default();
            topic.name = name();
            topic.partition_data = vec![partition];
            let mut r = ProduceRequest::default();
            r.acks = 1;
            r.topic_data = vec![topic];
            RequestKind::Produce(r)
        }
        ApiKey::Fetch => {
            let mut topic = fetch_request::FetchTopic::default();
            topic.topic = name();
            topic.partitions = vec![fetch_request::FetchPartition::default()];
            let mut r = FetchRequest::default();
            r.topics = vec![topic];
            RequestKind::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut topic = list_offsets_request::ListOffsetsTopic::default();
            topic.name = name();
            topic.partitions = vec![list_offsets_request::ListOffsetsPartition::default()];
            let mut r = ListOffsetsRequest::default();
            r.topics = vec![topic];
            RequestKind::ListOffsets(r)
        }
        ApiKey::Metadata => {
            let mut topic = metadata_request::MetadataRequestTopic::default();
            topic.name = Some(name());
            let mut r = MetadataRequest::default();
            r.topics = Some(vec![topic]);
            RequestKind::Metadata(r)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            r.key = StrBytes::from_static_str("fuzz-group");
            r.coordinator_keys = vec![StrBytes::from_static_str("fuzz-group")];
            RequestKind::FindCoordinator(r)
        }
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => {
            let mut topic = create_topics_request::CreatableTopic::default();
            topic.name = name();
            topic.num_partitions = 2;
            topic.replication_factor = 1;
            let mut r = CreateTopicsRequest::default();
            r.topics = vec![topic];
            RequestKind::CreateTopics(r)
        }
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default();
            r.topic_names = vec![name()];
            let mut state = delete_topics_request::DeleteTopicState::default();
            state.name = Some(name());
            r.topics = vec![state];
            RequestKind::DeleteTopics(r)
        }
        ApiKey::DescribeConfigs => {
            let mut resource = describe_configs_request::DescribeConfigsResource::default();
            resource.resource_type = 2;
            resource.resource_name = StrBytes::from_static_str("fuzz-topic");
            let mut r = DescribeConfigsRequest::default();
            r.resources = vec![resource];
            RequestKind::DescribeConfigs(r)
        }
        ApiKey::OffsetCommit => {
            let mut partition = offset_commit_request::OffsetCommitRequestPartition::default();
            partition.committed_offset = 5;
            let mut topic = offset_commit_request::OffsetCommitRequestTopic::default();
            topic.name = name();
            topic.partitions = vec![partition];
            let mut r = OffsetCommitRequest::default();
            r.group_id = group();
            r.topics = vec![topic];
            RequestKind::OffsetCommit(r)
        }
        ApiKey::JoinGroup => {
            let mut protocol = join_group_request::JoinGroupRequestProtocol::default();
            protocol.name = StrBytes::from_static_str("range");
            let mut r = JoinGroupRequest::default();
            r.group_id = group();
            r.session_timeout_ms = 10_000;
            r.rebalance_timeout_ms = 10;
            r.protocol_type = StrBytes::from_static_str("consumer");
            r.protocols = vec![protocol];
            RequestKind::JoinGroup(r)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![group()];
            RequestKind::DescribeGroups(r)
        }
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => {
            let mut r = DeleteGroupsRequest::default();
            r.groups_names = vec![group()];
            RequestKind::DeleteGroups(r)
        }
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_valid_requests_for_every_version() {
    count_panics();
    let dir = tempfile::tempdir().unwrap();
    let broker =
        start(BrokerConfig::for_tests(dir.path()).with("group.initial.rebalance.delay.ms", 0))
            .await
            .unwrap();
    let addr = broker.bootstrap();
    let mut rng = Rng::seeded(0xfeed_beef);
    let mut sent = 0;
    for api in APIS {
        let Some(request) = sample_request(api.key) else {
            continue;
        };
        for version in api.min_supported..=api.max {
            let mut body = BytesMut::new();
            if request.encode(&mut body, version).is_err() {
                continue; // a field this sample sets does not exist at this version
            }
            let header_version = api.key.request_header_version(version);
            send(
                &addr,
                &frame(api.key as i16, version, header_version, &body),
            )
            .await;
            for _ in 0..16 {
                let mut mutated = body.to_vec();
                if mutated.is_empty() {
                    break;
                }
                for _ in 0..=rng.below(3) {
                    let at = rng.below(mutated.len() as u64) as usize;
                    mutated[at] = match rng.below(4) {
                        0 => 0xff,
                        1 => 0,
                        2 => mutated[at].wrapping_add(1),
                        _ => rng.next() as u8,
                    };
                }
                if rng.below(4) == 0 {
                    mutated.truncate(rng.below(mutated.len() as u64) as usize);
                }
                send(
                    &addr,
                    &frame(api.key as i16, version, header_version, &mutated),
                )
                .await;
                sent += 1;
            }
        }
    }
    assert!(sent > 500, "only {sent} mutated requests were built");
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket.write_all(&frame(18, 0, 1, &[])).await.unwrap();
    assert!(socket.read_i32().await.unwrap() > 6);
    assert_eq!(socket.read_i32().await.unwrap(), 7);
    assert_eq!(socket.read_i16().await.unwrap(), 0);
    drop(socket);
    broker.shutdown().await.unwrap();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "the broker panicked");
}
