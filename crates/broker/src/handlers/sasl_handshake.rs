//! SaslHandshake (v0–v1): the client names its SASL mechanism; the answer
//! lists the listener's enabled ones. v0 means the tokens that follow come
//! raw, without request headers (`security::exchange`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::Outcome;
use crate::broker::Broker;
use crate::request_context::RequestContext;
use crate::security::exchange::Answer;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: SaslHandshakeRequest,
) -> Outcome {
    let response = |error: Option<ResponseError>| {
        SaslHandshakeResponse::default()
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_mechanisms(
                broker
                    .sasl
                    .enabled(&ctx.listener)
                    .iter()
                    .map(|m| StrBytes::from_string(m.clone()))
                    .collect(),
            )
    };
    // Kafka's request handler answers this on a connection that does not
    // authenticate with SASL (or already has).
    let Some(session) = &ctx.sasl else {
        return Outcome::Respond(response(Some(ResponseError::IllegalSaslState)).into());
    };
    let answer = session.lock().handshake(
        &broker.sasl,
        &ctx.listener,
        ctx.api_version,
        &request.mechanism,
    );
    match answer {
        Answer::Continue(error) => Outcome::Respond(response(error).into()),
        Answer::Authenticated(error, principal) => {
            Outcome::Authenticated(response(error).into(), principal)
        }
        Answer::Failed(error) => Outcome::FailAuthentication(response(error).into()),
    }
}
