//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server
//! side, as Kafka's `ScramSaslServer` runs it:
//!
//! 1. client-first → server-first (`r=client nonce + server nonce,s=salt,
//!    i=iterations`). The user is looked up here, so an unknown user fails
//!    at this step, as in Kafka (which has no fake salt); it gets the same
//!    message as a wrong proof, so the text never tells which.
//! 2. client-final → server-final (`v=server signature`), once the channel
//!    binding repeats the gs2 header, the nonce is the combined one and the
//!    proof checks out (compared in constant time).
//!
//! Channel binding (`p=` in the gs2 header, the -PLUS mechanisms) is
//! refused: Kafka offers no -PLUS mechanism. With the `tokenauth=true`
//! extension the user name is a delegation token id, and the client
//! authenticates as the token's owner until the token expires.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use kafka_protocol::error::ResponseError;
use zeroize::Zeroizing;

use crate::broker::Broker;
use crate::security::scram_credentials::{
    constant_time_eq, random_bytes, ScramCredentialSource, ScramIdentity, ScramMechanism,
    StoredUsers, TokenCredentials, MIN_ITERATIONS,
};
use crate::security::scram_messages::{ClientFinal, ClientFirst};
use crate::security::{SaslFailure, SaslServer, SaslStep};

/// One SCRAM authentication attempt.
pub struct ScramServer {
    mechanism: ScramMechanism,
    users: Arc<dyn ScramCredentialSource>,
    tokens: Arc<dyn ScramCredentialSource>,
    state: State,
    /// Set by tests that replay a published exchange; random otherwise.
    fixed_server_nonce: Option<String>,
}

enum State {
    ReceiveClientFirst,
    ReceiveClientFinal(Box<Pending>),
    Done,
}

/// What the final message is checked against.
struct Pending {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    identity: ScramIdentity,
}

impl ScramServer {
    /// `users` answers plain user names; `tokens` answers token ids (with
    /// `tokenauth=true`).
    pub fn new(
        mechanism: ScramMechanism,
        users: Arc<dyn ScramCredentialSource>,
        tokens: Arc<dyn ScramCredentialSource>,
    ) -> Self {
        ScramServer {
            mechanism,
            users,
            tokens,
            state: State::ReceiveClientFirst,
            fixed_server_nonce: None,
        }
    }

    /// An attempt against `broker`'s stored users and delegation tokens:
    /// what the SASL exchange creates for SCRAM-SHA-256 and SCRAM-SHA-512.
    pub fn for_broker(mechanism: ScramMechanism, broker: &Broker) -> Self {
        Self::new(
            mechanism,
            Arc::new(StoredUsers(Arc::clone(&broker.scram_credentials))),
            Arc::new(TokenCredentials(Arc::clone(&broker.delegation_tokens))),
        )
    }

    #[cfg(test)]
    pub(crate) fn with_server_nonce(mut self, nonce: &str) -> Self {
        self.fixed_server_nonce = Some(nonce.to_string());
        self
    }

    /// The one text for every credential failure (Kafka's
    /// `SaslServerAuthenticator` answers any `SaslException` with it).
    fn invalid_credentials(&self) -> SaslFailure {
        SaslFailure::authentication_failed(format!(
            "Authentication failed during authentication due to invalid credentials with SASL \
             mechanism {}",
            self.mechanism.name()
        ))
    }

    fn client_first(&self, message: &[u8]) -> Result<(Pending, Vec<u8>), SaslFailure> {
        let first = ClientFirst::parse(message)
            .map_err(|e| SaslFailure::authentication_failed(e.to_string()))?;
        let source = if first.token_authenticated() {
            &self.tokens
        } else {
            &self.users
        };
        let identity = source
            .lookup(self.mechanism, &first.user)
            .ok_or_else(|| self.invalid_credentials())?;
        if first.authzid.as_ref().is_some_and(|a| *a != first.user) {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: Client requested an authorization id that is different \
                 from username",
            ));
        }
        if identity.credential.iterations < MIN_ITERATIONS {
            tracing::warn!(
                "SCRAM credential of {} for {} has {} iterations, below the minimum {MIN_ITERATIONS}",
                identity.principal,
                self.mechanism.name(),
                identity.credential.iterations
            );
            return Err(self.invalid_credentials());
        }
        let server_nonce = match &self.fixed_server_nonce {
            Some(nonce) => nonce.clone(),
            None => random_bytes(24)
                .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                .map_err(|_| SaslFailure::authentication_failed("no randomness for a nonce"))?,
        };
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&identity.credential.salt),
            identity.credential.iterations
        );
        let answer = server_first.clone().into_bytes();
        Ok((
            Pending {
                first,
                server_first,
                nonce,
                identity,
            },
            answer,
        ))
    }

    fn client_final(&self, pending: Pending, message: &[u8]) -> Result<SaslStep, SaslFailure> {
        let last = ClientFinal::parse(message)
            .map_err(|e| SaslFailure::authentication_failed(e.to_string()))?;
        if last.channel_binding != pending.first.gs2_header.as_bytes() {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: the channel binding does not repeat the gs2 header",
            ));
        }
        if last.nonce != pending.nonce {
            return Err(SaslFailure::authentication_failed(
                "Authentication failed: Invalid client nonce in the final client message",
            ));
        }
        let auth_message = format!(
            "{},{},{}",
            pending.first.bare, pending.server_first, last.without_proof
        );
        let mechanism = self.mechanism;
        let credential = &pending.identity.credential;
        let client_signature = mechanism.hmac_of(&credential.stored_key, auth_message.as_bytes());
        if last.proof.len() != client_signature.len() {
            return Err(self.invalid_credentials());
        }
        // The client's key, recovered from its proof: wiped once checked.
        let client_key: Zeroizing<Vec<u8>> = Zeroizing::new(
            last.proof
                .iter()
                .zip(&client_signature)
                .map(|(p, s)| p ^ s)
                .collect(),
        );
        if !constant_time_eq(&mechanism.hash(&client_key), &credential.stored_key) {
            return Err(self.invalid_credentials());
        }
        let server_signature = mechanism.hmac_of(&credential.server_key, auth_message.as_bytes());
        Ok(SaslStep::Complete {
            principal: pending.identity.principal,
            final_message: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
            credential_expires: pending.identity.expires,
        })
    }
}

impl SaslServer for ScramServer {
    fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    fn step(&mut self, client_message: &[u8]) -> Result<SaslStep, SaslFailure> {
        // Whatever happens, a failed or finished attempt takes no more
        // messages, and the credential goes with the state it was in.
        match std::mem::replace(&mut self.state, State::Done) {
            State::ReceiveClientFirst => {
                let (pending, answer) = self.client_first(client_message)?;
                self.state = State::ReceiveClientFinal(Box::new(pending));
                Ok(SaslStep::Challenge(answer))
            }
            State::ReceiveClientFinal(pending) => self.client_final(*pending, client_message),
            State::Done => Err(SaslFailure {
                error: ResponseError::IllegalSaslState,
                message: format!(
                    "Unexpected message: the SASL/{} exchange is over",
                    self.mechanism.name()
                ),
            }),
        }
    }
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
