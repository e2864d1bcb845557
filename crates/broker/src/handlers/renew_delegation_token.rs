//! RenewDelegationToken (v1–v2): the token's owner or a renewer moves its
//! expiry on, never past its maximum lifetime.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{RenewDelegationTokenRequest, RenewDelegationTokenResponse};

use crate::broker::Broker;
use crate::groups::group::now_ms;
use crate::request_context::RequestContext;
use crate::security::delegation_tokens::{requests_allowed, ERROR_TIMESTAMP};

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: RenewDelegationTokenRequest,
) -> RenewDelegationTokenResponse {
    let refused = |code: i16| {
        RenewDelegationTokenResponse::default()
            .with_error_code(code)
            .with_expiry_timestamp_ms(ERROR_TIMESTAMP)
    };
    if !requests_allowed(ctx) {
        return refused(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let renewed = broker
        .delegation_tokens
        .renew(
            &ctx.principal,
            &request.hmac,
            request.renew_period_ms,
            now_ms(),
        )
        .await;
    match renewed {
        Ok(expiry) => RenewDelegationTokenResponse::default()
            .with_error_code(0)
            .with_expiry_timestamp_ms(expiry),
        Err(e) => {
            tracing::debug!("RenewDelegationToken by {} refused: {e}", ctx.principal);
            refused(e.code())
        }
    }
}
