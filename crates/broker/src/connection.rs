//! One client connection: read frames, decode, dispatch, answer in order.
//!
//! Requests are handled one at a time per connection, as Kafka does, so the
//! answers go out in request order. Answers to pipelined requests are
//! gathered and written together while more whole frames are already
//! buffered.
//!
//! Memory per connection stays bounded by what the client actually sends
//! and reads: a frame of up to 1 MiB is read into room of its size while a
//! broker-wide budget for such room lasts; otherwise the read buffer grows
//! with what has arrived of a frame (whatever length its header claims),
//! buffers that grew are given back once emptied, and while the client
//! does not take its answers the broker waits on the write and reads
//! nothing more.
//! A connection with no traffic either way for `connections.max.idle.ms` is
//! closed; a request being handled does not count as idle.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::api;
use crate::broker::Broker;
use crate::connection_quotas::Admission;
use crate::handlers::api_versions;
use crate::quotas::response::{client_throttles, throttle_time_mut};
use crate::quotas::{throttle_duration, throttle_ms_i32};
use crate::request_context::{ConnectionContext, ConnectionState};
use crate::security::exchange::{self, Answer, Refusal};

#[path = "connection_frames.rs"]
mod frames;
#[path = "connection_output.rs"]
mod output;

pub use frames::{decode_frame, next_frame, DecodedFrame};
use frames::{
    frame_ready, release_if_large, reserve_for_next_frame, write_fetch_with_files, write_raw_token,
    write_response, INITIAL_READ_BUFFER, MAX_RESPONSE_FRAME,
};
use output::Output;
pub use output::{
    is_placeholder as is_records_placeholder, records_placeholder, set_copied_records_limit,
    Transport,
};

/// What a connection serves before it has authenticated (the SASL
/// exchange narrows it further: `security::exchange::admit`).
const SERVED_BEFORE_AUTHENTICATION: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

/// Answers gathered beyond this are written before the next request is read.
const MAX_PENDING_OUTPUT: usize = 1 << 20;
/// Why a connection is closed instead of answered.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("frame of {0} bytes is negative or exceeds socket.request.max.bytes ({1})")]
    BadFrameLength(i64, usize),
    #[error("request header is truncated")]
    TruncatedHeader,
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{0:?} v{1} is not supported")]
    UnsupportedVersion(ApiKey, i16),
    #[error("malformed {0:?} v{1} request: {2}")]
    Malformed(ApiKey, i16, String),
    #[error("cannot encode {0:?} v{1} response: {2}")]
    Encode(ApiKey, i16, String),
    /// Kafka bounds its responses (fetch.max.bytes) and has no way to frame
    /// a larger one; neither have we, so the connection is closed instead.
    #[error("{0:?} v{1} response of {2} bytes exceeds the frame limit of {3} bytes")]
    ResponseTooLarge(ApiKey, i16, usize, usize),
    #[error("{0:?}: {1}")]
    Closed(ApiKey, &'static str),
    /// Kafka's SASL authenticator closes a connection whose first requests
    /// are anything but ApiVersions and the SASL exchange.
    #[error("{0:?} before authentication")]
    NotAuthenticated(ApiKey),
    #[error("{0:?}: {1}")]
    Sasl(ApiKey, Refusal),
    /// Answered (after `connection.failed.authentication.delay.ms`), then closed.
    #[error("SASL authentication failed")]
    AuthenticationFailed,
    #[error("no traffic for connections.max.idle.ms ({0:?})")]
    Idle(Duration),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves one connection until the client closes it, it idles out, or the
/// broker shuts down. `admission` holds the connection's place in the
/// connection limits until then. `socket` is any byte stream (TCP today,
/// TLS over TCP later); record bytes go from the files to a plaintext TCP
/// socket with sendfile (see `connection_output`).
pub async fn serve<S>(
    mut socket: S,
    mut connection: ConnectionContext,
    broker: Arc<Broker>,
    max_idle: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
    mut admission: Admission,
) where
    S: Transport,
{
    let peer = connection.peer;
    let max_frame = broker.config.socket_request_max_bytes();
    // Small to start: most connections are idle most of the time, and both
    // buffers grow to what the traffic needs (and keep it for reuse).
    let mut input = BytesMut::with_capacity(INITIAL_READ_BUFFER);
    let mut output = Output::default();
    let limit = |connection: &ConnectionContext| frame_limit(connection, &broker, max_frame);
    let result: Result<(), ConnectionError> = async {
        loop {
            while let Some(frame) = next_frame(&mut input, limit(&connection))? {
                admission.release_frame_room();
                let mute = if may_wait(&frame) {
                    // Answers already made go out before this one parks, as
                    // Kafka sends each answer when it is ready.
                    if !output.write_to(&mut socket, max_idle, &mut shutdown).await? {
                        return Ok(());
                    }
                    // A client may ask to wait for as long as it likes; a
                    // shutdown must not.
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(()),
                        handled = handle_frame(&broker, &mut connection, frame, &mut output) => handled?,
                    }
                } else {
                    handle_frame(&broker, &mut connection, frame, &mut output).await?
                };
                if let Some(Throttle { time: mute, answer_now }) = mute {
                    // KIP-219: a throttled answer goes out at once, and the
                    // connection's next request (buffered or not) waits out
                    // the throttle, as Kafka mutes the channel. A client too
                    // old to wait by itself gets its answer afterwards.
                    if answer_now && !output.write_to(&mut socket, max_idle, &mut shutdown).await? {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(()),
                        () = tokio::time::sleep(mute) => {}
                    }
                }
                let more_buffered = frame_ready(&input, limit(&connection));
                if (!more_buffered || output.pending() >= MAX_PENDING_OUTPUT)
                    && !output.write_to(&mut socket, max_idle, &mut shutdown).await?
                {
                    return Ok(());
                }
            }
            if input.is_empty() {
                release_if_large(&mut input);
            }
            reserve_for_next_frame(&mut input, |room| admission.hold_frame_room(room));
            match unless_idle(socket.read_buf(&mut input), max_idle, &mut shutdown).await? {
                Some(0) | None => return Ok(()),
                Some(_) => {}
            }
        }
    }
    .await;
    connection.state = ConnectionState::Closing;
    let unsent_answers = matches!(
        &result,
        Err(e) if !matches!(e, ConnectionError::Io(_) | ConnectionError::Idle(_))
    );
    if unsent_answers && !output.is_empty() {
        // Kafka answers one request at a time, so the answers to requests
        // before the one that closes the connection have gone out: send them
        // (if the client takes them within the idle limit).
        let _ = output.write_to(&mut socket, max_idle, &mut shutdown).await;
    }
    drop(admission);
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => tracing::debug!(%peer, error = %e, "connection dropped"),
        Err(e @ ConnectionError::Idle(_)) => tracing::debug!(%peer, "closing connection: {e}"),
        Err(e) => tracing::warn!(%peer, error = %e, "closing connection"),
    }
}

/// Kafka reads an unauthenticated SASL client's frames up to
/// `sasl.server.max.receive.size` only, so that it cannot make the broker
/// hold a large frame before it has proved who it is.
fn frame_limit(connection: &ConnectionContext, broker: &Broker, max_frame: usize) -> usize {
    match (&connection.sasl, connection.state) {
        (Some(_), ConnectionState::BeforeAuthentication) => {
            broker.sasl.max_receive_size.min(max_frame)
        }
        _ => max_frame,
    }
}

/// Waits for one read or write on the socket: `None` when the broker shuts
/// down first, `Idle` when nothing moved for `max_idle`.
async fn unless_idle<T>(
    io: impl Future<Output = std::io::Result<T>>,
    max_idle: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<T>, ConnectionError> {
    let idle_out = async {
        match max_idle {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown.changed() => Ok(None),
        done = io => Ok(Some(done?)),
        () = idle_out => Err(ConnectionError::Idle(max_idle.unwrap_or_default())),
    }
}

/// Requests whose answer may be held back for a while by design (long-poll
/// fetches, group joins and syncs waiting for the rebalance).
fn may_wait(frame: &[u8]) -> bool {
    let Some(key) = frame.get(..2) else {
        return false;
    };
    let key = i16::from_be_bytes([key[0], key[1]]);
    [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup]
        .iter()
        .any(|k| *k as i16 == key)
}

/// A quota's hold on a connection: nothing more is read for `time`.
struct Throttle {
    time: Duration,
    /// The client waits by itself (KIP-219): answer before the wait.
    answer_now: bool,
}

/// Handles one request and adds its answer to `output`; `Some` when the
/// connection is over a quota.
async fn handle_frame(
    broker: &Broker,
    connection: &mut ConnectionContext,
    frame: Bytes,
    output: &mut Output,
) -> Result<Option<Throttle>, ConnectionError> {
    if exchange::expects_raw_token(connection) {
        return handle_raw_sasl_token(broker, connection, frame, output)
            .await
            .map(|()| None);
    }
    let (key, version, header, request) = match decode_frame(frame)? {
        DecodedFrame::Request {
            key,
            version,
            header,
            request,
        } => (key, version, header, request),
        DecodedFrame::ApiVersionsTooNew { correlation_id } => {
            let mut header = ResponseHeader::default();
            header.correlation_id = correlation_id;
            // KIP-511: a v0-shaped answer so the client can retry with a version we know.
            return write_response(
                &mut output.bytes,
                MAX_RESPONSE_FRAME,
                &header,
                0,
                &ResponseKind::ApiVersions(api_versions::unsupported_version()),
                ApiKey::ApiVersions,
                0,
            )
            .map(|()| None);
        }
    };
    if connection.state == ConnectionState::BeforeAuthentication
        && !SERVED_BEFORE_AUTHENTICATION.contains(&key)
    {
        return Err(ConnectionError::NotAuthenticated(key));
    }
    exchange::admit(connection, key).map_err(|refusal| ConnectionError::Sasl(key, refusal))?;
    let ctx = connection.request(key, header, &request);
    let mut response_header = ResponseHeader::default();
    response_header.correlation_id = ctx.correlation_id;
    let header_version = key.response_header_version(version);
    let mut failed = false;
    let started = Instant::now();
    let outcome = api::dispatch(broker, &ctx, request).await;
    let request_throttle = if counts_request_time(key) {
        broker.quotas.record_request_time(&ctx, started.elapsed())
    } else {
        0
    };
    let mut response = match outcome {
        api::Outcome::Respond(response) => response,
        api::Outcome::Authenticated(response, principal) => {
            connection.authenticated(principal);
            response
        }
        api::Outcome::FailAuthentication(response) => {
            tokio::time::sleep(broker.sasl.failed_authentication_delay).await;
            failed = true;
            response
        }
        api::Outcome::RespondWithFiles(mut response, files) => {
            let throttle = combine_throttles(&mut response.throttle_time_ms, request_throttle)
                .map(|time| throttle_of(time, key, version));
            write_fetch_with_files(
                output,
                MAX_RESPONSE_FRAME,
                &response_header,
                header_version,
                &response,
                version,
                files,
            )?;
            return Ok(throttle);
        }
        api::Outcome::Silent { mut throttle_ms } => {
            let throttle = combine_throttles(&mut throttle_ms, request_throttle);
            return Ok(throttle.map(|time| throttle_of(time, key, version)));
        }
        api::Outcome::Close(reason) => return Err(ConnectionError::Closed(key, reason)),
    };
    let throttle = throttle_time_mut(&mut response)
        .and_then(|slot| combine_throttles(slot, request_throttle))
        .map(|time| throttle_of(time, key, version));
    write_response(
        &mut output.bytes,
        MAX_RESPONSE_FRAME,
        &response_header,
        header_version,
        &response,
        key,
        version,
    )?;
    if failed {
        return Err(ConnectionError::AuthenticationFailed);
    }
    Ok(throttle)
}

/// The larger of a response's own throttle (its bytes or mutations) and
/// the request-time one, written back into the response.
fn combine_throttles(slot: &mut i32, request_throttle: u64) -> Option<Duration> {
    *slot = (*slot).max(throttle_ms_i32(request_throttle));
    throttle_duration(*slot)
}

fn throttle_of(time: Duration, key: ApiKey, version: i16) -> Throttle {
    Throttle {
        time,
        answer_now: client_throttles(key, version),
    }
}

/// Whether a request's handling time counts against `request_percentage`:
/// not the exchange that authenticates a client, and not the requests that
/// park by design (their wait is not the broker's work).
fn counts_request_time(key: ApiKey) -> bool {
    !matches!(
        key,
        ApiKey::ApiVersions
            | ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::Fetch
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
    )
}

/// A token of a SASL exchange begun with a v0 handshake: no request
/// header, answered with a length-prefixed token (Kafka sends nothing back
/// when it fails, and closes).
async fn handle_raw_sasl_token(
    broker: &Broker,
    connection: &mut ConnectionContext,
    token: Bytes,
    output: &mut Output,
) -> Result<(), ConnectionError> {
    let answer = match &connection.sasl {
        Some(session) => {
            exchange::raw_token(session, &broker.sasl, &connection.listener, &token).await
        }
        None => Answer::Failed(Vec::new()),
    };
    match answer {
        Answer::Continue(reply) => write_raw_token(&mut output.bytes, &reply),
        Answer::Authenticated(reply, principal) => {
            connection.authenticated(principal);
            write_raw_token(&mut output.bytes, &reply)
        }
        Answer::Failed(_) => {
            tokio::time::sleep(broker.sasl.failed_authentication_delay).await;
            Err(ConnectionError::AuthenticationFailed)
        }
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
