use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::APIS;
use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::transactions::{TRANSACTION_VERSION, TRANSACTION_VERSION_FEATURE};

/// The first version carrying feature flags (KIP-584).
const FEATURES_SINCE: i16 = 3;
/// Below v4 Kafka leaves out a supported feature whose minimum level is 0.
const ZERO_MINIMUM_FEATURES_SINCE: i16 = 4;
/// Fjord's finalized features never change: one epoch for their one state
/// (clients take an answer only when its epoch is above -1).
const FINALIZED_FEATURES_EPOCH: i64 = 1;

pub async fn handle(
    _broker: &Broker,
    ctx: &RequestContext,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    let mut response = supported_apis(0);
    if ctx.api_version >= FEATURES_SINCE {
        add_features(&mut response, ctx.api_version);
    }
    response
}

/// `transaction.version` at level 2, as a Kafka 4.1 cluster formats it by
/// default: clients that read it (the Java client from 4.0) speak
/// transaction version 2 (KIP-890: Produce v12 adds partitions to the
/// transaction, TxnOffsetCommit v5 the group, EndTxn v5 bumps the epoch).
fn add_features(response: &mut ApiVersionsResponse, version: i16) {
    let name = StrBytes::from_static_str(TRANSACTION_VERSION_FEATURE);
    if version >= ZERO_MINIMUM_FEATURES_SINCE {
        let mut supported = SupportedFeatureKey::default();
        supported.name = name.clone();
        supported.min_version = 0;
        supported.max_version = TRANSACTION_VERSION;
        response.supported_features.push(supported);
    }
    let mut finalized = FinalizedFeatureKey::default();
    finalized.name = name;
    finalized.min_version_level = TRANSACTION_VERSION;
    finalized.max_version_level = TRANSACTION_VERSION;
    response.finalized_features.push(finalized);
    response.finalized_features_epoch = FINALIZED_FEATURES_EPOCH;
}

/// The answer to an ApiVersions request at a version we don't know: encoded at
/// v0 by the caller, with UNSUPPORTED_VERSION and, as Kafka 4.1 answers it
/// (KIP-511; found by scripts/diffcheck), only ApiVersions' own range, so
/// that the client can retry at a version we speak.
pub fn unsupported_version() -> ApiVersionsResponse {
    let mut response = supported_apis(ResponseError::UnsupportedVersion.code());
    response
        .api_keys
        .retain(|v| v.api_key == ApiKey::ApiVersions as i16);
    response
}

pub(crate) fn supported_apis(error_code: i16) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = error_code;
    response.api_keys = APIS
        .iter()
        .map(|api| {
            let mut v = ApiVersion::default();
            v.api_key = api.key as i16;
            v.min_version = api.advertised_min;
            v.max_version = api.max;
            v
        })
        .collect();
    response
}
