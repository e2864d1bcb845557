//! SaslAuthenticate (v0–v2): one message of the SASL exchange the
//! handshake began, and the mechanism's answer; once it completes, the
//! session's lifetime (v1+, KIP-368).

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::Outcome;
use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::security::exchange::{self, Answer};
use crate::security::SaslFailure;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: SaslAuthenticateRequest,
) -> Outcome {
    let Some(session) = &ctx.sasl else {
        return Outcome::Respond(
            response(Err(SaslFailure::illegal_state(
                "SaslAuthenticate request received after successful authentication",
            )))
            .into(),
        );
    };
    let answer =
        exchange::authenticate(session, &broker.sasl, &ctx.listener, &request.auth_bytes).await;
    match answer {
        Answer::Continue(result) => Outcome::Respond(response(result).into()),
        Answer::Authenticated(result, principal) => {
            Outcome::Authenticated(response(result).into(), principal)
        }
        Answer::Failed(result) => Outcome::FailAuthentication(response(result).into()),
    }
}

fn response(result: Result<(Vec<u8>, i64), SaslFailure>) -> SaslAuthenticateResponse {
    match result {
        Ok((auth_bytes, session_lifetime_ms)) => SaslAuthenticateResponse::default()
            .with_auth_bytes(Bytes::from(auth_bytes))
            .with_session_lifetime_ms(session_lifetime_ms),
        Err(failure) => SaslAuthenticateResponse::default()
            .with_error_code(failure.error.code())
            .with_error_message(Some(StrBytes::from_string(failure.message))),
    }
}
