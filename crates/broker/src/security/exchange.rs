//! One connection's SASL exchange, as Kafka's `SaslServerAuthenticator`
//! runs it: SaslHandshake names a mechanism; then either SaslAuthenticate
//! requests (handshake v1) or, after a v0 handshake, raw length-prefixed
//! tokens without request headers carry the mechanism's messages until it
//! completes or fails. A completed exchange may be repeated on the live
//! connection to re-authenticate (KIP-368), with the same mechanism and as
//! the same principal; a session past its lifetime serves nothing but that.
//!
//! The exchange never looks inside a mechanism: [`SaslMechanisms::server`]
//! gives it a [`SaslServer`] to feed.

use std::sync::Arc;
use std::time::SystemTime;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;
use tokio::time::{Duration, Instant};
use zeroize::Zeroizing;

use super::mechanisms::SaslMechanisms;
use super::{SaslFailure, SaslServer, SaslStep};
use crate::request_context::{ConnectionContext, Principal};

/// The exchange of one connection, shared by the requests that drive it.
pub type SaslSession = Arc<Mutex<SaslExchange>>;

/// A new connection's exchange, before its first request.
pub fn new_session() -> SaslSession {
    Arc::new(Mutex::new(SaslExchange {
        stage: Stage::Initial,
    }))
}

/// Where one connection's exchange stands.
pub struct SaslExchange {
    stage: Stage,
}

enum Stage {
    /// Before SaslHandshake: only ApiVersions and the handshake are served.
    Initial,
    /// The handshake chose `mechanism`; `server` takes the client's tokens,
    /// in SaslAuthenticate requests (`framed`) or raw (v0 handshake).
    Authenticating {
        server: Box<dyn SaslServer>,
        mechanism: String,
        framed: bool,
        /// The session being re-authenticated.
        previous: Option<Session>,
    },
    /// Re-authentication asked for another mechanism than the session's:
    /// Kafka answers the handshake and fails the next message.
    ReauthBadMechanism(String),
    Authenticated(Session),
    /// Failed: the connection is being closed.
    Failed,
}

#[derive(Debug, Clone)]
struct Session {
    mechanism: String,
    principal: Principal,
    expires: Option<Instant>,
}

impl std::fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.stage {
            Stage::Initial => write!(f, "SaslExchange(initial)"),
            Stage::Authenticating { mechanism, .. } => {
                write!(f, "SaslExchange(authenticating with {mechanism})")
            }
            Stage::ReauthBadMechanism(_) => write!(f, "SaslExchange(bad re-authentication)"),
            Stage::Authenticated(session) => {
                write!(f, "SaslExchange(authenticated as {})", session.principal)
            }
            Stage::Failed => write!(f, "SaslExchange(failed)"),
        }
    }
}

/// What a SaslAuthenticate request is answered: the challenge or final
/// message and the session lifetime, or the failure.
type Authenticated = Result<(Vec<u8>, i64), SaslFailure>;

/// What the exchange makes of a client message, and what to send back.
#[derive(Debug)]
pub enum Answer<T> {
    /// Send it and carry on.
    Continue(T),
    /// Send it: the connection is (re-)authenticated as this principal.
    Authenticated(T, Principal),
    /// Send it once `connection.failed.authentication.delay.ms` has passed,
    /// then close the connection.
    Failed(T),
}

/// Why a request is not served on a SASL connection: the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only ApiVersions and the SASL exchange are served before authentication")]
    NotAuthenticated,
    #[error("only SaslAuthenticate is served during a SASL exchange")]
    DuringExchange,
    #[error("the session expired (connections.max.reauth.ms) and was not re-authenticated")]
    SessionExpired,
}

/// A mechanism's step, with re-authentication's rules applied.
enum Stepped {
    Challenge(Vec<u8>),
    Complete {
        final_message: Vec<u8>,
        principal: Principal,
        session_lifetime_ms: i64,
    },
    Failed(SaslFailure),
}

/// Whether `key` may be served now on `connection`. Connections without
/// SASL serve everything.
pub fn admit(connection: &ConnectionContext, key: ApiKey) -> Result<(), Refusal> {
    let Some(session) = &connection.sasl else {
        return Ok(());
    };
    let sasl_request = matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
    match &session.lock().stage {
        Stage::Initial if sasl_request || key == ApiKey::ApiVersions => Ok(()),
        Stage::Initial => Err(Refusal::NotAuthenticated),
        Stage::Authenticating { .. } | Stage::ReauthBadMechanism(_) | Stage::Failed => {
            if sasl_request {
                Ok(())
            } else {
                Err(Refusal::DuringExchange)
            }
        }
        Stage::Authenticated(s) => match s.expires {
            // Only a new handshake (re-authentication) is taken on an
            // expired session, as Kafka's processor does.
            Some(at) if Instant::now() >= at && key != ApiKey::SaslHandshake => {
                Err(Refusal::SessionExpired)
            }
            _ => Ok(()),
        },
    }
}

/// Whether the connection's next frame is a raw token (after a v0
/// handshake) rather than a request.
pub fn expects_raw_token(connection: &ConnectionContext) -> bool {
    connection.sasl.as_ref().is_some_and(|session| {
        matches!(
            session.lock().stage,
            Stage::Authenticating { framed: false, .. }
        )
    })
}

/// The error message for a token the exchange cannot take now.
const ILLEGAL_STATE: &str = "Unexpected SASL request for the state of the exchange";

impl SaslExchange {
    /// A SaslHandshake naming `requested`, on `listener`. Answers the
    /// error (if any) and the listener's enabled mechanisms.
    pub fn handshake(
        &mut self,
        mechanisms: &SaslMechanisms,
        listener: &str,
        version: i16,
        requested: &str,
    ) -> Answer<Option<ResponseError>> {
        let previous = match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Initial => None,
            Stage::Authenticated(session) => Some(session),
            // A second handshake in the middle of an exchange.
            _ => return Answer::Failed(Some(ResponseError::IllegalSaslState)),
        };
        let Some(server) = mechanisms.server(listener, requested) else {
            return Answer::Failed(Some(ResponseError::UnsupportedSaslMechanism));
        };
        self.stage = match previous {
            Some(previous) if previous.mechanism != requested => {
                Stage::ReauthBadMechanism(format!(
                    "SASL mechanism '{requested}' requested by client is not supported for \
                     re-authentication of mechanism '{}'",
                    previous.mechanism
                ))
            }
            previous => Stage::Authenticating {
                server,
                mechanism: requested.to_string(),
                framed: version >= 1,
                previous,
            },
        };
        Answer::Continue(None)
    }

    /// Whether a SaslAuthenticate request may step the exchange now; the
    /// answer to send instead when it may not.
    fn authenticate_allowed(&mut self) -> Result<(), Answer<Authenticated>> {
        match &self.stage {
            Stage::Authenticating { framed: true, .. } | Stage::ReauthBadMechanism(_) => Ok(()),
            // Kafka's request handler answers this on an authenticated
            // connection, without closing it.
            Stage::Authenticated(_) => Err(Answer::Continue(Err(SaslFailure::illegal_state(
                "SaslAuthenticate request received after successful authentication",
            )))),
            _ => {
                self.stage = Stage::Failed;
                Err(Answer::Failed(Err(SaslFailure::illegal_state(
                    "SaslAuthenticate request received before a SaslHandshake",
                ))))
            }
        }
    }

    /// Takes the mechanism's server out for one step (the exchange counts
    /// as failed until [`Self::finish`] puts its outcome back), or says
    /// why no step can be taken.
    fn take(&mut self) -> Result<Taken, Stepped> {
        match std::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Authenticating {
                server,
                mechanism,
                framed,
                previous,
            } => Ok(Taken {
                server,
                mechanism,
                framed,
                previous,
            }),
            Stage::ReauthBadMechanism(message) => {
                Err(Stepped::Failed(SaslFailure::authentication_failed(message)))
            }
            _ => Err(Stepped::Failed(SaslFailure::illegal_state(ILLEGAL_STATE))),
        }
    }

    /// Applies what the mechanism answered, with re-authentication's rules.
    fn finish(
        &mut self,
        taken: Taken,
        stepped: Result<SaslStep, SaslFailure>,
        mechanisms: &SaslMechanisms,
        listener: &str,
    ) -> Stepped {
        let Taken {
            server,
            mechanism,
            framed,
            previous,
        } = taken;
        let (principal, final_message, credential_expires) = match stepped {
            Err(failure) => return Stepped::Failed(failure),
            Ok(SaslStep::Challenge(challenge)) => {
                self.stage = Stage::Authenticating {
                    server,
                    mechanism,
                    framed,
                    previous,
                };
                return Stepped::Challenge(challenge);
            }
            Ok(SaslStep::Complete {
                principal,
                final_message,
                credential_expires,
            }) => (principal, final_message, credential_expires),
        };
        if let Some(previous) = previous.filter(|p| p.principal != principal) {
            return Stepped::Failed(SaslFailure::authentication_failed(format!(
                "Cannot change principals during re-authentication from {}.{}: {}.{}",
                previous.principal.principal_type,
                previous.principal.name,
                principal.principal_type,
                principal.name
            )));
        }
        let max_reauth_ms = mechanisms.max_reauth_ms(listener, &mechanism);
        let session_lifetime_ms = session_lifetime_ms(max_reauth_ms, credential_expires);
        let expires = (max_reauth_ms > 0 || credential_expires.is_some())
            .then(|| Instant::now() + Duration::from_millis(session_lifetime_ms as u64));
        self.stage = Stage::Authenticated(Session {
            mechanism,
            principal: principal.clone(),
            expires,
        });
        Stepped::Complete {
            final_message,
            principal,
            session_lifetime_ms,
        }
    }
}

/// A mechanism's server out of the exchange for one step.
struct Taken {
    server: Box<dyn SaslServer>,
    mechanism: String,
    framed: bool,
    previous: Option<Session>,
}

/// A SaslAuthenticate request's bytes. Answers the challenge or final
/// message, the session lifetime and the failure, if any.
pub async fn authenticate(
    session: &SaslSession,
    mechanisms: &SaslMechanisms,
    listener: &str,
    auth_bytes: &[u8],
) -> Answer<Authenticated> {
    if let Err(answer) = session.lock().authenticate_allowed() {
        return answer;
    }
    match step(session, mechanisms, listener, auth_bytes).await {
        Stepped::Challenge(challenge) => Answer::Continue(Ok((challenge, 0))),
        Stepped::Complete {
            final_message,
            principal,
            session_lifetime_ms,
        } => Answer::Authenticated(Ok((final_message, session_lifetime_ms)), principal),
        Stepped::Failed(failure) => Answer::Failed(Err(failure)),
    }
}

/// A raw token after a v0 handshake. Answers the bytes to send back
/// length-prefixed; a failure is answered with nothing (as Kafka).
pub async fn raw_token(
    session: &SaslSession,
    mechanisms: &SaslMechanisms,
    listener: &str,
    token: &[u8],
) -> Answer<Vec<u8>> {
    match step(session, mechanisms, listener, token).await {
        Stepped::Challenge(challenge) => Answer::Continue(challenge),
        Stepped::Complete {
            final_message,
            principal,
            ..
        } => Answer::Authenticated(final_message, principal),
        Stepped::Failed(_) => Answer::Failed(Vec::new()),
    }
}

/// One step of the mechanism, on the blocking pool: PLAIN's PBKDF2 (200 000
/// iterations by default), a delegation token's SCRAM credential (PBKDF2
/// too) and a JWT's signature take milliseconds that an async worker thread
/// must not spend while its other connections wait. At most
/// [`SaslMechanisms::step_permits`] steps run at once, so that a flood of
/// logins neither grows the blocking pool without bound nor starves the
/// file I/O that shares it. The connection asks nothing else of the
/// exchange meanwhile: it handles one request at a time.
async fn step(
    session: &SaslSession,
    mechanisms: &SaslMechanisms,
    listener: &str,
    token: &[u8],
) -> Stepped {
    let taken = match session.lock().take() {
        Ok(taken) => taken,
        Err(stepped) => return stepped,
    };
    let Ok(permit) = mechanisms.step_permits().acquire_owned().await else {
        return Stepped::Failed(SaslFailure::authentication_failed(STEP_LOST));
    };
    // A copy the blocking task owns, wiped when it is done with it.
    let token = Zeroizing::new(token.to_vec());
    let Taken {
        mut server,
        mechanism,
        framed,
        previous,
    } = taken;
    let ran = tokio::task::spawn_blocking(move || {
        let stepped = server.step(&token);
        drop(permit);
        (server, stepped)
    })
    .await;
    let (server, stepped) = match ran {
        Ok(ran) => ran,
        Err(e) => {
            tracing::error!("a SASL/{mechanism} step did not finish: {e}");
            return Stepped::Failed(SaslFailure::authentication_failed(STEP_LOST));
        }
    };
    let taken = Taken {
        server,
        mechanism,
        framed,
        previous,
    };
    session.lock().finish(taken, stepped, mechanisms, listener)
}

/// The answer when a mechanism's step was lost (the broker shutting down).
const STEP_LOST: &str = "Authentication failed: the broker could not check the credentials";

/// KIP-368: `connections.max.reauth.ms` (0: none), never past the
/// credential's own expiry; 0 when neither bounds the session.
fn session_lifetime_ms(max_reauth_ms: i64, credential_expires: Option<SystemTime>) -> i64 {
    let credential_ms = credential_expires.map(|at| match at.duration_since(SystemTime::now()) {
        Ok(left) => i64::try_from(left.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    });
    match (credential_ms, max_reauth_ms > 0) {
        (None, false) => 0,
        (None, true) => max_reauth_ms,
        (Some(left), false) => left,
        (Some(left), true) => left.min(max_reauth_ms),
    }
}

#[cfg(test)]
#[path = "exchange_hostile_tests.rs"]
mod hostile_tests;
#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
