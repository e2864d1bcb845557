//! The registry, walked entry by entry.

use std::collections::HashSet;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::protocol::Encodable;

use super::*;
use crate::connection::{decode_frame, ConnectionError, DecodedFrame};
use crate::handlers::test_support::test_broker;

/// A whole request frame (without its length prefix): a header for `key`
/// at `version`, then the API's default request (none below the versions
/// accepted: Kafka 4.1's message specs, and so the codec, no longer have
/// Produce v0–v2).
pub(super) fn default_frame(key: ApiKey, version: i16, correlation_id: i32) -> Bytes {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_static_str(
            "walk",
        )))
        .encode(&mut frame, key.request_header_version(version))
        .expect("header encodes");
    if entry(key as i16).is_some_and(|api| version >= api.min_supported) {
        encode_default(key, version, &mut frame)
            .unwrap_or_else(|e| panic!("{key:?} v{version} does not encode: {e:#}"));
    }
    frame.freeze()
}

pub(super) fn response_key(response: &ResponseKind) -> ApiKey {
    match response {
        ResponseKind::Produce(_) => ApiKey::Produce,
        ResponseKind::Fetch(_) => ApiKey::Fetch,
        ResponseKind::ListOffsets(_) => ApiKey::ListOffsets,
        ResponseKind::Metadata(_) => ApiKey::Metadata,
        ResponseKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        ResponseKind::ApiVersions(_) => ApiKey::ApiVersions,
        ResponseKind::CreateTopics(_) => ApiKey::CreateTopics,
        ResponseKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        ResponseKind::DeleteRecords(_) => ApiKey::DeleteRecords,
        ResponseKind::DescribeConfigs(_) => ApiKey::DescribeConfigs,
        ResponseKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        ResponseKind::DescribeCluster(_) => ApiKey::DescribeCluster,
        ResponseKind::DescribeTopicPartitions(_) => ApiKey::DescribeTopicPartitions,
        ResponseKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        ResponseKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        ResponseKind::JoinGroup(_) => ApiKey::JoinGroup,
        ResponseKind::Heartbeat(_) => ApiKey::Heartbeat,
        ResponseKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        ResponseKind::SyncGroup(_) => ApiKey::SyncGroup,
        ResponseKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        ResponseKind::ListGroups(_) => ApiKey::ListGroups,
        ResponseKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        ResponseKind::OffsetDelete(_) => ApiKey::OffsetDelete,
        ResponseKind::InitProducerId(_) => ApiKey::InitProducerId,
        ResponseKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        ResponseKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        ResponseKind::EndTxn(_) => ApiKey::EndTxn,
        ResponseKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        ResponseKind::ListTransactions(_) => ApiKey::ListTransactions,
        ResponseKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        ResponseKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        ResponseKind::CreateDelegationToken(_) => ApiKey::CreateDelegationToken,
        ResponseKind::RenewDelegationToken(_) => ApiKey::RenewDelegationToken,
        ResponseKind::ExpireDelegationToken(_) => ApiKey::ExpireDelegationToken,
        ResponseKind::DescribeDelegationToken(_) => ApiKey::DescribeDelegationToken,
        ResponseKind::DescribeUserScramCredentials(_) => ApiKey::DescribeUserScramCredentials,
        ResponseKind::AlterUserScramCredentials(_) => ApiKey::AlterUserScramCredentials,
        ResponseKind::DescribeAcls(_) => ApiKey::DescribeAcls,
        ResponseKind::CreateAcls(_) => ApiKey::CreateAcls,
        ResponseKind::DeleteAcls(_) => ApiKey::DeleteAcls,
        ResponseKind::SaslHandshake(_) => ApiKey::SaslHandshake,
        ResponseKind::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
        ResponseKind::DescribeClientQuotas(_) => ApiKey::DescribeClientQuotas,
        ResponseKind::AlterClientQuotas(_) => ApiKey::AlterClientQuotas,
        other => panic!("a response of an undeclared API: {other:?}"),
    }
}

#[tokio::test]
async fn every_entry_decodes_and_is_answered_by_its_handler_at_every_advertised_version() {
    let broker = test_broker().await;
    let mut answered = 0;
    for entry in APIS {
        for version in entry.advertised_min..=entry.max {
            let frame = default_frame(entry.key, version, i32::from(version));
            let decoded = decode_frame(frame);
            if version < entry.min_supported {
                // Advertised for old clients' sake, refused per request.
                assert!(
                    matches!(decoded, Err(ConnectionError::UnsupportedVersion(k, v)) if k == entry.key && v == version),
                    "{:?} v{version}: {decoded:?}",
                    entry.key
                );
                continue;
            }
            let Ok(DecodedFrame::Request {
                key,
                version: decoded_version,
                header,
                request,
            }) = decoded
            else {
                panic!("{:?} v{version} does not decode: {decoded:?}", entry.key);
            };
            assert_eq!((key, decoded_version), (entry.key, version));
            assert_eq!(header.correlation_id, i32::from(version));
            let ctx = RequestContext::for_tests(key, version);
            let outcome =
                tokio::time::timeout(Duration::from_secs(30), dispatch(&broker, &ctx, request))
                    .await
                    .unwrap_or_else(|_| panic!("{key:?} v{version} was not answered"));
            match outcome {
                Outcome::Respond(mut response) => {
                    assert_eq!(response_key(&response), key, "v{version}");
                    // Quotas throttle every answer but the SASL exchange's.
                    let sasl = matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
                    assert_eq!(
                        crate::quotas::response::throttle_time_mut(&mut response).is_some(),
                        !sasl,
                        "{key:?} throttle_time_ms"
                    );
                    let mut encoded = BytesMut::new();
                    response
                        .encode(&mut encoded, version)
                        .unwrap_or_else(|e| panic!("{key:?} v{version} answer: {e:#}"));
                    answered += 1;
                }
                // A default Produce asks for acks=0 and writes nothing: it
                // succeeds silently.
                Outcome::Silent { .. } if key == ApiKey::Produce => answered += 1,
                other => panic!("{key:?} v{version}: {other:?}"),
            }
        }
    }
    let supported: i16 = APIS.iter().map(|e| e.max - e.min_supported + 1).sum();
    assert_eq!(answered, supported);
}

#[test]
fn each_api_is_declared_once_with_sane_versions() {
    let mut keys = HashSet::new();
    for api in APIS {
        assert!(keys.insert(api.key), "{:?} declared twice", api.key);
        assert!(
            0 <= api.advertised_min
                && api.advertised_min <= api.min_supported
                && api.min_supported <= api.max,
            "{api:?}"
        );
        assert_eq!(entry(api.key as i16).map(|e| e.key), Some(api.key));
    }
}

#[test]
fn api_versions_advertises_exactly_the_declared_entries() {
    let advertised = handlers::api_versions::supported_apis(0);
    let listed: Vec<(i16, i16, i16)> = advertised
        .api_keys
        .iter()
        .map(|v| (v.api_key, v.min_version, v.max_version))
        .collect();
    let declared: Vec<(i16, i16, i16)> = APIS
        .iter()
        .map(|e| (e.key as i16, e.advertised_min, e.max))
        .collect();
    assert_eq!(listed, declared);
}

#[test]
fn group_membership_apis_authorize_the_group_and_produce_each_topic() {
    let declared = |key: ApiKey| entry(key as i16).expect("declared").authorization;
    for key in [
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
    ] {
        assert_eq!(
            declared(key),
            whole(ResourceType::Group, AclOperation::Read),
            "{key:?}"
        );
    }
    let produce = declared(ApiKey::Produce);
    assert_eq!(produce.request, None);
    assert_eq!(
        produce.each,
        &[check(ResourceType::Topic, AclOperation::Write)]
    );
    assert_eq!(declared(ApiKey::ApiVersions), Authorization::NONE);
}
