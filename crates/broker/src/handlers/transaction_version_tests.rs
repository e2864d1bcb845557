//! ApiVersions finalizes `transaction.version` 2, as Kafka 4.1 does, so
//! that clients reading features speak transaction version 2.

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};

use super::api_versions;
use super::test_support::{assert_encodes, ctx, test_broker};

#[tokio::test]
async fn transaction_version_2_is_finalized_from_v3() {
    let broker = test_broker().await;
    for version in 0..=4 {
        let response = api_versions::handle(
            &broker,
            &ctx(ApiKey::ApiVersions, version),
            ApiVersionsRequest::default(),
        )
        .await;
        assert_encodes(&response, version);
        let finalized: Vec<_> = response
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
            .collect();
        let supported: Vec<_> = response
            .supported_features
            .iter()
            .map(|f| (f.name.to_string(), f.min_version, f.max_version))
            .collect();
        let tv = "transaction.version".to_string();
        match version {
            0..=2 => assert!(finalized.is_empty() && supported.is_empty()),
            // Kafka leaves zero-minimum supported features out below v4.
            3 => {
                assert_eq!(finalized, vec![(tv, 2, 2)]);
                assert!(supported.is_empty());
            }
            _ => {
                assert_eq!(finalized, vec![(tv.clone(), 2, 2)]);
                assert_eq!(supported, vec![(tv, 0, 2)]);
            }
        }
        if version >= 3 {
            assert!(response.finalized_features_epoch >= 0, "clients ignore -1");
        }
    }
}
