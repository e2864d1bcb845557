//! Several listeners at once, as Kafka configures them: each bound on its
//! own port with its security protocol, each answering Metadata,
//! DescribeCluster and FindCoordinator with its own advertised address,
//! and a SASL listener serving nothing but ApiVersions before
//! authentication.

use std::time::Duration;

use bytes::Bytes;
use fjord_broker::{start, BrokerConfig, RunningBroker};
use fjord_testkit::frames::{api_versions_request, request};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterRequest, DescribeClusterResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// PLAINTEXT on its bound address, INTERNAL advertised under another
/// name, and a SASL_PLAINTEXT listener.
async fn three_listeners(dir: &std::path::Path) -> RunningBroker {
    // Each listener advertises its bound address unless advertised.listeners
    // names it; INTERNAL is told as a host name with a port of its own.
    let config = BrokerConfig::for_tests(dir)
        .with(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        )
        .with(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        )
        .with("inter.broker.listener.name", "INTERNAL")
        .with("advertised.listeners", "INTERNAL://broker.internal:19093");
    start(config).await.expect("broker starts")
}

async fn exchange(addr: std::net::SocketAddr, frame: Bytes) -> Option<Bytes> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(&frame).await.unwrap();
    let mut length = [0u8; 4];
    match tokio::time::timeout(WAIT, socket.read_exact(&mut length)).await {
        Err(_) => panic!("neither answered nor closed"),
        Ok(Err(_)) => return None,
        Ok(Ok(_)) => {}
    }
    let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
    socket.read_exact(&mut body).await.unwrap();
    Some(body.into())
}

fn body<T: Decodable>(mut frame: Bytes, key: ApiKey, version: i16) -> T {
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    T::decode(&mut frame, version).unwrap()
}

async fn metadata_brokers(addr: std::net::SocketAddr) -> Vec<(i32, String, i32)> {
    let frame = request(ApiKey::Metadata, 12, 1, &MetadataRequest::default());
    let answer = exchange(addr, frame).await.expect("Metadata answered");
    let response: MetadataResponse = body(answer, ApiKey::Metadata, 12);
    response
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect()
}

#[tokio::test]
async fn each_listener_advertises_its_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let broker = three_listeners(dir.path()).await;
    let plaintext = broker.listener_addr("plaintext").unwrap();
    let internal = broker.listener_addr("INTERNAL").unwrap();
    assert_ne!(plaintext.port(), internal.port());
    assert_eq!(broker.local_addr(), plaintext, "the first listener leads");

    assert_eq!(
        metadata_brokers(plaintext).await,
        vec![(1, "127.0.0.1".to_string(), i32::from(plaintext.port()))]
    );
    assert_eq!(
        metadata_brokers(internal).await,
        vec![(1, "broker.internal".to_string(), 19093)]
    );

    let frame = request(
        ApiKey::DescribeCluster,
        0,
        2,
        &DescribeClusterRequest::default(),
    );
    let answer = exchange(internal, frame).await.expect("answered");
    let cluster: DescribeClusterResponse = body(answer, ApiKey::DescribeCluster, 0);
    assert_eq!(
        (cluster.brokers[0].host.as_str(), cluster.brokers[0].port),
        ("broker.internal", 19093)
    );

    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_static_str("group")]);
    for (addr, host, port) in [
        (internal, "broker.internal".to_string(), 19093),
        (
            plaintext,
            "127.0.0.1".to_string(),
            i32::from(plaintext.port()),
        ),
    ] {
        let frame = request(ApiKey::FindCoordinator, 4, 3, &find);
        let answer = exchange(addr, frame).await.expect("answered");
        let found: FindCoordinatorResponse = body(answer, ApiKey::FindCoordinator, 4);
        let coordinator = &found.coordinators[0];
        assert_eq!(coordinator.error_code, 0);
        assert_eq!(
            (coordinator.host.to_string(), coordinator.port),
            (host, port)
        );
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_sasl_listener_serves_only_api_versions_before_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let broker = three_listeners(dir.path()).await;
    let sasl = broker.listener_addr("SASL_PLAINTEXT").unwrap();
    let answer = exchange(sasl, api_versions_request(5))
        .await
        .expect("ApiVersions answered");
    let versions: ApiVersionsResponse = body(answer, ApiKey::ApiVersions, 3);
    assert_eq!(versions.error_code, 0);
    let metadata = request(ApiKey::Metadata, 12, 6, &MetadataRequest::default());
    assert_eq!(
        exchange(sasl, metadata).await,
        None,
        "Metadata before authentication closes the connection unanswered"
    );
    // The other listeners are unaffected.
    let plaintext = broker.listener_addr("PLAINTEXT").unwrap();
    assert_eq!(metadata_brokers(plaintext).await.len(), 1);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_connections_counts_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::for_tests(dir.path())
        .with("listeners", "PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0")
        .with(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT",
        )
        .with("max.connections", "1");
    let broker = start(config).await.unwrap();
    let first = broker.listener_addr("PLAINTEXT").unwrap();
    let other = broker.listener_addr("OTHER").unwrap();
    // One connection on either listener takes the one slot; a connection
    // on the other listener waits until it is closed.
    let mut held = TcpStream::connect(other).await.unwrap();
    held.write_all(&api_versions_request(1)).await.unwrap();
    let mut length = [0u8; 4];
    tokio::time::timeout(WAIT, held.read_exact(&mut length))
        .await
        .expect("the first connection is served")
        .unwrap();
    let waiting = tokio::spawn(async move { metadata_brokers(first).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past max.connections");
    drop(held);
    let brokers = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("served once the slot is free")
        .unwrap();
    assert_eq!(brokers.len(), 1);
    broker.shutdown().await.unwrap();
}
