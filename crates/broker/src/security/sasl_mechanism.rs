//! The contract between the SASL exchange and one mechanism's server side.

use std::time::SystemTime;

use kafka_protocol::error::ResponseError;

use crate::request_context::Principal;

/// The server side of one SASL authentication attempt with one mechanism.
/// Fed each message the client sends (a SaslAuthenticate request's
/// `auth_bytes`, or an unframed v0 token), in order, until it completes or
/// fails; it is dropped afterwards, so secrets it saw go with it.
pub trait SaslServer: Send {
    /// The mechanism's IANA name, as clients name it in SaslHandshake.
    fn mechanism(&self) -> &'static str;

    /// Takes the client's next message and says what comes next.
    fn step(&mut self, client_message: &[u8]) -> Result<SaslStep, SaslFailure>;
}

/// What a mechanism answers to a client message.
#[derive(Debug)]
pub enum SaslStep {
    /// Send `challenge` back and wait for the client's next message.
    Challenge(Vec<u8>),
    /// Authenticated as `principal`: send `final_message` (empty for
    /// mechanisms without one) and serve the connection.
    Complete {
        principal: Principal,
        final_message: Vec<u8>,
        /// When the credential itself stops being valid (a JWT's `exp`, a
        /// delegation token's expiry): the session lifetime the broker
        /// returns is never past it (KIP-368). `None` for passwords.
        credential_expires: Option<SystemTime>,
    },
}

/// Why an attempt failed. The exchange answers `error` with `message`
/// (SaslAuthenticate v1+ carries it) and closes the connection, as Kafka
/// does. `message` goes to the client: it never holds a secret, and for a
/// wrong password or an unknown user it is the same text, so that a client
/// cannot tell which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error:?}: {message}")]
pub struct SaslFailure {
    pub error: ResponseError,
    pub message: String,
}

impl SaslFailure {
    /// SASL_AUTHENTICATION_FAILED with `message`.
    pub fn authentication_failed(message: impl Into<String>) -> Self {
        SaslFailure {
            error: ResponseError::SaslAuthenticationFailed,
            message: message.into(),
        }
    }

    /// ILLEGAL_SASL_STATE: a message the mechanism cannot take now.
    pub fn illegal_state(message: impl Into<String>) -> Self {
        SaslFailure {
            error: ResponseError::IllegalSaslState,
            message: message.into(),
        }
    }
}
