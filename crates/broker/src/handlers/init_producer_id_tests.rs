//! InitProducerId through its handler, at every version the codec defines.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::init_producer_id::handle;
use super::test_support::{assert_encodes, ctx, test_broker, test_broker_with};
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::server;

const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

fn request(transactional_id: Option<&str>, timeout_ms: i32) -> InitProducerIdRequest {
    let mut request = InitProducerIdRequest::default();
    request.transactional_id =
        transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string())));
    request.transaction_timeout_ms = timeout_ms;
    request.producer_id = ProducerId(-1);
    request.producer_epoch = -1;
    request
}

fn with_producer(mut request: InitProducerIdRequest, id: i64, epoch: i16) -> InitProducerIdRequest {
    request.producer_id = ProducerId(id);
    request.producer_epoch = epoch;
    request
}

async fn init(
    broker: &Broker,
    version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = handle(broker, &ctx(ApiKey::InitProducerId, version), request).await;
    assert_encodes(&response, version);
    response
}

fn granted(response: &InitProducerIdResponse) -> (i64, i16) {
    assert_eq!(response.error_code, 0, "{response:?}");
    (response.producer_id.0, response.producer_epoch)
}

fn refused(response: &InitProducerIdResponse) -> ResponseError {
    assert_eq!((response.producer_id.0, response.producer_epoch), (-1, -1));
    ResponseError::try_from_code(response.error_code).expect("an error code")
}

#[tokio::test]
async fn idempotent_producers_get_a_fresh_id_at_epoch_zero_every_time() {
    let broker = test_broker().await;
    let mut ids = Vec::new();
    for version in VERSIONS {
        let (id, epoch) = granted(&init(&broker, version, request(None, 60_000)).await);
        assert_eq!(epoch, 0);
        ids.push(id);
    }
    // Even naming its current id and epoch, as Kafka does: a new id.
    let again = with_producer(request(None, 60_000), ids[5], 0);
    let (id, epoch) = granted(&init(&broker, 5, again).await);
    assert_eq!(epoch, 0);
    ids.push(id);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

#[tokio::test]
async fn producer_ids_are_never_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = Vec::new();
    let running = server::start(BrokerConfig::for_tests(dir.path()))
        .await
        .unwrap();
    for _ in 0..3 {
        before.push(granted(&init(running.broker(), 4, request(None, 1)).await).0);
    }
    running.shutdown().await.unwrap();
    let running = server::start(BrokerConfig::for_tests(dir.path()))
        .await
        .unwrap();
    let after = granted(&init(running.broker(), 4, request(None, 1)).await).0;
    assert!(
        before.iter().all(|id| *id < after),
        "{before:?} then {after}"
    );
    // The rest of the first block is skipped, not handed out.
    assert!(after >= 1000, "{after}");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transactional_id_bumps_its_epoch_and_fences_older_producers() {
    let broker = test_broker().await;
    let (id, first) = granted(&init(&broker, 5, request(Some("tx"), 60_000)).await);
    assert_eq!(first, 0);
    let (same_id, second) = granted(&init(&broker, 5, request(Some("tx"), 60_000)).await);
    assert_eq!((same_id, second), (id, 1));
    // KIP-360: the producer at epoch 1 recovers: epoch 2, same id.
    let recover = with_producer(request(Some("tx"), 60_000), id, 1);
    assert_eq!(granted(&init(&broker, 5, recover.clone()).await), (id, 2));
    // Its retry (the answer was lost) gets the same answer again.
    assert_eq!(granted(&init(&broker, 5, recover).await), (id, 2));
    // The producer still at epoch 0 is a zombie.
    for version in 3..=5 {
        let zombie = with_producer(request(Some("tx"), 60_000), id, 0);
        let expected = if version < 4 {
            ResponseError::InvalidProducerEpoch
        } else {
            ResponseError::ProducerFenced
        };
        assert_eq!(refused(&init(&broker, version, zombie).await), expected);
    }
    // So is one naming a producer id the transactional id never had.
    let stranger = with_producer(request(Some("tx"), 60_000), id + 500, 2);
    assert_eq!(
        refused(&init(&broker, 5, stranger).await),
        ResponseError::ProducerFenced
    );
}

#[tokio::test]
async fn transaction_timeouts_are_checked_against_the_maximum() {
    let broker = test_broker_with(|config| config.with("transaction.max.timeout.ms", 10_000)).await;
    for version in VERSIONS {
        for timeout in [0, -5, 10_001] {
            let response = init(&broker, version, request(Some("t"), timeout)).await;
            assert_eq!(refused(&response), ResponseError::InvalidTransactionTimeout);
        }
        granted(&init(&broker, version, request(Some("t"), 10_000)).await);
    }
    // Without a transactional id the timeout means nothing.
    granted(&init(&broker, 5, request(None, 10_001)).await);
}

#[tokio::test]
async fn malformed_requests_are_invalid() {
    let broker = test_broker().await;
    let empty = init(&broker, 5, request(Some(""), 1000)).await;
    assert_eq!(refused(&empty), ResponseError::InvalidRequest);
    for (id, epoch) in [(7, -1), (-1, 3)] {
        for transactional_id in [None, Some("tx")] {
            let half = with_producer(request(transactional_id, 1000), id, epoch);
            assert_eq!(
                refused(&init(&broker, 5, half).await),
                ResponseError::InvalidRequest
            );
        }
    }
}
