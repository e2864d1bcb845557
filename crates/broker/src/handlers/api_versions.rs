use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::api::APIS;
use crate::broker::Broker;
use crate::request_context::RequestContext;

pub async fn handle(
    _broker: &Broker,
    _ctx: &RequestContext,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    supported_apis(0)
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
