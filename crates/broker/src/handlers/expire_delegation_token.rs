//! ExpireDelegationToken (v1–v2): the token's owner or a renewer brings
//! its expiry forward, or (a negative period) removes it at once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ExpireDelegationTokenRequest, ExpireDelegationTokenResponse};

use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::security::delegation_tokens::{requests_allowed, ERROR_TIMESTAMP};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: ExpireDelegationTokenRequest,
) -> ExpireDelegationTokenResponse {
    let refused = |code: i16| {
        ExpireDelegationTokenResponse::default()
            .with_error_code(code)
            .with_expiry_timestamp_ms(ERROR_TIMESTAMP)
    };
    if !requests_allowed(ctx) {
        return refused(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let expired = broker
        .delegation_tokens
        .expire(
            &ctx.principal,
            &request.hmac,
            request.expiry_time_period_ms,
            now_ms(),
        )
        .await;
    match expired {
        Ok(expiry) => ExpireDelegationTokenResponse::default()
            .with_error_code(0)
            .with_expiry_timestamp_ms(expiry),
        Err(e) => {
            tracing::debug!("ExpireDelegationToken by {} refused: {e}", ctx.principal);
            refused(e.code())
        }
    }
}
