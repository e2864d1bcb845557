//! The encode path: no response frame exceeds the limit.

use super::*;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

const FETCH_VERSION: i16 = 12;

fn fetch_response(records: &[Bytes]) -> ResponseKind {
    let mut topic = FetchableTopicResponse::default();
    topic.partitions = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut p = PartitionData::default();
            p.partition_index = i as i32;
            p.records = Some(r.clone());
            p
        })
        .collect();
    let mut response = FetchResponse::default();
    response.responses = vec![topic];
    ResponseKind::Fetch(response)
}

fn write(
    output: &mut BytesMut,
    max_frame: usize,
    response: &ResponseKind,
    key: ApiKey,
) -> Result<(), ConnectionError> {
    let header = ResponseHeader::default();
    let version = if key == ApiKey::Fetch {
        FETCH_VERSION
    } else {
        9
    };
    write_response(
        output,
        max_frame,
        &header,
        key.response_header_version(version),
        response,
        key,
        version,
    )
}

#[test]
fn a_fetch_response_over_2_gib_is_refused_before_it_is_encoded() {
    // Three partitions sharing one zeroed GiB: 3 GiB of records whose
    // pages are never touched, because the size is checked first.
    let gib = Bytes::from(vec![0u8; 1 << 30]);
    let huge = fetch_response(&[gib.clone(), gib.clone(), gib]);
    let mut output = BytesMut::new();
    write(
        &mut output,
        MAX_RESPONSE_FRAME,
        &fetch_response(&[Bytes::from_static(b"x")]),
        ApiKey::Fetch,
    )
    .expect("small answer");
    let before = output.clone();
    let refused = write(&mut output, MAX_RESPONSE_FRAME, &huge, ApiKey::Fetch);
    assert!(
        matches!(refused, Err(ConnectionError::ResponseTooLarge(ApiKey::Fetch, _, size, MAX_RESPONSE_FRAME)) if size > 3 << 30),
        "{refused:?}"
    );
    // The earlier answer is intact and still correctly framed.
    assert_eq!(output, before);
    let length = i32::from_be_bytes([output[0], output[1], output[2], output[3]]);
    assert_eq!(length as usize, output.len() - 4);
}

#[test]
fn no_frame_exceeds_the_limit_whatever_the_api() {
    let mut metadata = MetadataResponse::default();
    metadata.cluster_id = Some(StrBytes::from_string("c".repeat(200)));
    let metadata = ResponseKind::Metadata(metadata);
    let mut output = BytesMut::new();
    let refused = write(&mut output, 100, &metadata, ApiKey::Metadata);
    assert!(
        matches!(
            refused,
            Err(ConnectionError::ResponseTooLarge(
                ApiKey::Metadata,
                9,
                _,
                100
            ))
        ),
        "{refused:?}"
    );
    assert!(output.is_empty());
    write(&mut output, 1000, &metadata, ApiKey::Metadata).expect("fits");
    let length = i32::from_be_bytes([output[0], output[1], output[2], output[3]]);
    assert!(length > 0 && length as usize == output.len() - 4);

    let records = fetch_response(&[Bytes::from(vec![1u8; 4096])]);
    let mut output = BytesMut::new();
    assert!(matches!(
        write(&mut output, 4096, &records, ApiKey::Fetch),
        Err(ConnectionError::ResponseTooLarge(ApiKey::Fetch, ..))
    ));
    assert!(output.is_empty());
}

/// A frame as it arrives: its length prefix and the first `arrived` bytes.
fn arriving(length: usize, arrived: usize) -> BytesMut {
    let mut input = BytesMut::with_capacity(INITIAL_READ_BUFFER);
    input.extend_from_slice(&(length as i32).to_be_bytes());
    input.extend_from_slice(&vec![7u8; arrived]);
    input
}

#[test]
fn a_believed_frame_is_read_into_one_buffer_of_its_size() {
    let length = 1_000_000;
    let mut input = arriving(length, INITIAL_READ_BUFFER - 4);
    reserve_for_next_frame(&mut input, |_| true);
    assert_eq!(input.capacity(), 4 + length);
    let start = input.as_ptr();
    // The rest arrives in pieces (the socket reads into the spare room).
    while input.len() < 4 + length {
        let piece = (4 + length - input.len()).min(64 * 1024);
        input.extend_from_slice(&vec![7u8; piece]);
        reserve_for_next_frame(&mut input, |_| true);
        assert_eq!(input.as_ptr(), start, "the buffer never moves");
    }
    let frame = next_frame(&mut input, 100 << 20).unwrap().unwrap();
    assert_eq!(frame.len(), length);
    assert_eq!(frame.as_ptr(), start.wrapping_add(4));
    assert!(input.is_empty());
}

#[test]
fn a_frame_past_belief_gets_room_for_what_has_arrived() {
    // 100 MB claimed, 8 KiB sent: room for about 64 KiB more, not 100 MB,
    // and the budget for believed frames is not asked.
    let mut input = arriving(100 << 20, INITIAL_READ_BUFFER - 4);
    reserve_for_next_frame(&mut input, |_| panic!("a 100 MB frame is not believed"));
    assert!(input.capacity() <= 128 << 10, "{}", input.capacity());
    assert!(input.capacity() > INITIAL_READ_BUFFER);
}

#[test]
fn a_believed_frame_over_budget_gets_room_for_what_has_arrived() {
    let mut input = arriving(1_000_000, INITIAL_READ_BUFFER - 4);
    let mut asked = None;
    reserve_for_next_frame(&mut input, |room| {
        asked = Some(room);
        false
    });
    assert_eq!(asked, Some(1_000_004));
    assert!(input.capacity() <= 128 << 10, "{}", input.capacity());
}

mod served {
    //! `serve` over an in-memory stream: any byte stream will do, and the
    //! connection's state decides what it serves.

    use std::net::SocketAddr;

    use kafka_protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::connection_quotas::{ConnectionLimits, ConnectionQuotas};
    use crate::handlers::test_support::{test_broker, TestBroker};
    use crate::request_context::{SecurityProtocol, PLAINTEXT_LISTENER};

    fn frame<M: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &M) -> Vec<u8> {
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .encode(&mut frame, key.request_header_version(version))
            .expect("header encodes");
        body.encode(&mut frame, version).expect("body encodes");
        let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&frame);
        framed
    }

    fn api_versions() -> Vec<u8> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("test-client"))
            .with_client_software_version(StrBytes::from_static_str("1.0"));
        frame(ApiKey::ApiVersions, 3, 1, &request)
    }

    fn metadata() -> Vec<u8> {
        frame(ApiKey::Metadata, 12, 2, &MetadataRequest::default())
    }

    /// The next answer's correlation id and body, or `None` once the broker
    /// has closed the stream.
    async fn answer(client: &mut DuplexStream, key: ApiKey, version: i16) -> Option<(i32, Bytes)> {
        let mut length = [0u8; 4];
        client.read_exact(&mut length).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
        client.read_exact(&mut body).await.expect("whole answer");
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .expect("response header");
        Some((header.correlation_id, body))
    }

    async fn open(
        broker: &TestBroker,
        protocol: SecurityProtocol,
    ) -> (DuplexStream, JoinHandle<()>, watch::Sender<bool>) {
        let (client, server) = duplex(1 << 16);
        let (served, shutdown) = serve_stream(broker, protocol, server).await;
        (client, served, shutdown)
    }

    /// Serves `server` as a connection accepted on the plaintext listener's
    /// name with `protocol`.
    async fn serve_stream<S: Transport + 'static>(
        broker: &TestBroker,
        protocol: SecurityProtocol,
        server: S,
    ) -> (JoinHandle<()>, watch::Sender<bool>) {
        let peer = SocketAddr::from(([127, 0, 0, 1], 7));
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            max_connections: 1,
            max_per_ip: 1,
            per_ip_overrides: Default::default(),
            max_idle: None,
        });
        let slot = quotas.free_slot().await;
        let admission = quotas.admit(slot, peer.ip()).expect("admitted");
        let context = ConnectionContext::accepted(
            peer,
            StrBytes::from_static_str(PLAINTEXT_LISTENER),
            protocol,
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let served = tokio::spawn(serve(
            server,
            context,
            broker.shared(),
            None,
            shutdown_rx,
            admission,
        ));
        (served, shutdown)
    }

    /// Regression test for e665746: tokio-rustls keeps the TLS records a
    /// full socket did not take inside the session (up to its 64 KiB
    /// limit) until the next write or flush, and the connection wrote
    /// nothing more after its last answer, so the end of the answers
    /// waited for the client's next request. Here the "socket" is an
    /// in-memory pipe of 4 KiB, the answers to 40 pipelined requests
    /// (about 30 KiB) end within 64 KiB past the point where it fills, and
    /// the client sends nothing more: all the answers must arrive.
    #[tokio::test]
    async fn pipelined_answers_over_tls_arrive_without_more_input() {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        use std::sync::Arc;

        const PIPELINED: i32 = 40;
        let broker = test_broker().await;
        let ca = fjord_testkit::tls::TestCa::new("pipelined TLS CA");
        let issued = ca.server();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(issued.der.clone())],
                PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key"),
            )
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.der())).expect("root");
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();

        let (client, server) = duplex(4096);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let name = ServerName::try_from("localhost").expect("name");
        let (server, client) =
            tokio::join!(acceptor.accept(server), connector.connect(name, client));
        let (mut client, server) = (
            client.expect("client handshake"),
            server.expect("server handshake"),
        );
        let (served, _shutdown) = serve_stream(&broker, SecurityProtocol::Ssl, server).await;

        let mut pipelined = Vec::new();
        for correlation_id in 0..PIPELINED {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("test-client"))
                .with_client_software_version(StrBytes::from_static_str("1.0"));
            pipelined.extend(frame(ApiKey::ApiVersions, 3, correlation_id, &request));
        }
        client.write_all(&pipelined).await.expect("write");
        client.flush().await.expect("flush");
        // Not reading yet: the pipe fills while the broker answers.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let mut answers = 0;
        let read_all = async {
            for correlation_id in 0..PIPELINED {
                let mut length = [0u8; 4];
                client.read_exact(&mut length).await.expect("answer length");
                let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
                client.read_exact(&mut body).await.expect("whole answer");
                let mut body = Bytes::from(body);
                let header = ResponseHeader::decode(&mut body, 0).expect("response header");
                assert_eq!(header.correlation_id, correlation_id);
                let versions = ApiVersionsResponse::decode(&mut body, 3).expect("decodes");
                assert_eq!(versions.error_code, 0);
                answers += 1;
            }
        };
        let finished = tokio::time::timeout(Duration::from_secs(5), read_all).await;
        assert!(
            finished.is_ok(),
            "only {answers} of {PIPELINED} answers arrived"
        );
        drop(client);
        let _ = served.await;
    }

    #[tokio::test]
    async fn a_plaintext_connection_serves_pipelined_requests_over_any_stream() {
        let broker = test_broker().await;
        let (mut client, served, _shutdown) = open(&broker, SecurityProtocol::Plaintext).await;
        let mut pipelined = api_versions();
        pipelined.extend(metadata());
        client.write_all(&pipelined).await.expect("write");

        let (id, mut body) = answer(&mut client, ApiKey::ApiVersions, 3)
            .await
            .expect("ApiVersions answered");
        assert_eq!(id, 1);
        let versions = ApiVersionsResponse::decode(&mut body, 3).expect("decodes");
        assert_eq!(versions.error_code, 0);
        assert_eq!(versions.api_keys.len(), api::APIS.len());
        let (id, mut body) = answer(&mut client, ApiKey::Metadata, 12)
            .await
            .expect("Metadata answered");
        assert_eq!(id, 2);
        let metadata = MetadataResponse::decode(&mut body, 12).expect("decodes");
        assert_eq!(metadata.brokers.len(), 1);

        drop(client);
        served.await.expect("connection ends when the client goes");
    }

    #[tokio::test]
    async fn before_authentication_only_api_versions_is_served() {
        let broker = test_broker().await;
        let (mut client, served, _shutdown) = open(&broker, SecurityProtocol::SaslPlaintext).await;
        client.write_all(&api_versions()).await.expect("write");
        let (id, _) = answer(&mut client, ApiKey::ApiVersions, 3)
            .await
            .expect("ApiVersions answered before authentication");
        assert_eq!(id, 1);

        client.write_all(&metadata()).await.expect("write");
        assert!(
            answer(&mut client, ApiKey::Metadata, 12).await.is_none(),
            "Metadata before authentication closes the connection"
        );
        served.await.expect("connection closed by the broker");
    }

    /// On a stream without sendfile the records left in files are copied
    /// in (through the connection's reused buffer): the frames are the
    /// codec's encoding of the same answer with the records in it, at every
    /// version, for one and several partitions.
    #[tokio::test]
    async fn file_records_are_copied_into_the_answer_on_any_stream() {
        use std::collections::BTreeMap;

        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::{FetchRequest, TopicName};

        use crate::handlers::fetch::handle;
        use crate::handlers::test_support::{append_batch, ctx};

        let broker = test_broker().await;
        broker
            .topics
            .create("files", 2, BTreeMap::new(), false)
            .await
            .expect("topic");
        let topic_id = broker.topics.get("files").expect("topic").id;
        for partition in 0..2 {
            for i in 0..5usize {
                let values = (0..1 + i)
                    .map(|j| Bytes::from(vec![b'a' + j as u8; 100 * i + 7]))
                    .collect();
                append_batch(&broker, "files", partition, values).await;
            }
        }
        let (mut client, _served, _shutdown) = open(&broker, SecurityProtocol::Plaintext).await;
        let mut correlation = 0;
        for version in 4..=18 {
            for (offset, max_bytes) in [(0, 1 << 20), (2, 500), (14, 1 << 20), (1, 1)] {
                let mut topic = FetchTopic::default();
                if version >= 13 {
                    topic.topic_id = topic_id;
                } else {
                    topic.topic = TopicName(StrBytes::from_static_str("files"));
                }
                topic.partitions = (0..2)
                    .map(|p| {
                        let mut partition = FetchPartition::default();
                        partition.partition = p;
                        partition.fetch_offset = offset;
                        partition.partition_max_bytes = max_bytes;
                        partition
                    })
                    .collect();
                let mut request = FetchRequest::default();
                request.max_bytes = 1 << 20;
                request.topics = vec![topic];
                correlation += 1;
                client
                    .write_all(&frame(ApiKey::Fetch, version, correlation, &request))
                    .await
                    .expect("request");
                let mut length = [0u8; 4];
                client.read_exact(&mut length).await.expect("answer");
                let mut answer = vec![0u8; i32::from_be_bytes(length) as usize];
                client.read_exact(&mut answer).await.expect("whole answer");

                let response = handle(&broker, &ctx(ApiKey::Fetch, version), request).await;
                assert!(response.responses[0].partitions[0]
                    .records
                    .as_ref()
                    .is_some_and(|r| !r.is_empty() || offset == 14));
                let mut header = ResponseHeader::default();
                header.correlation_id = correlation;
                let mut expected = BytesMut::new();
                write_response(
                    &mut expected,
                    MAX_RESPONSE_FRAME,
                    &header,
                    ApiKey::Fetch.response_header_version(version),
                    &ResponseKind::Fetch(response),
                    ApiKey::Fetch,
                    version,
                )
                .expect("encodes");
                assert_eq!(
                    &expected[4..],
                    &answer[..],
                    "v{version} offset {offset} max_bytes {max_bytes}"
                );
            }
        }
    }

    #[tokio::test]
    async fn shutdown_closes_an_idle_connection() {
        let broker = test_broker().await;
        let (mut client, served, shutdown) = open(&broker, SecurityProtocol::Plaintext).await;
        shutdown.send(true).expect("connection listens");
        served.await.expect("connection ends on shutdown");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.expect("eof"), 0);
    }
}
