//! The wire side of a connection: splitting length-prefixed frames off the
//! read buffer (and sizing that buffer by what has arrived, not by what a
//! frame claims), decoding a frame's header and body through the API
//! registry, and framing responses within the size a length prefix can say.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::ConnectionError;
use crate::api;

/// The largest response frame: its length prefix is a signed 32-bit int.
pub(super) const MAX_RESPONSE_FRAME: usize = i32::MAX as usize;
pub(super) const INITIAL_READ_BUFFER: usize = 8 * 1024;
/// The most we grow the read buffer by at once, whatever a frame claims.
const MAX_READ_RESERVE: usize = 1 << 20;
/// Frame lengths up to this are believed when reserving room to read; past
/// it the buffer grows with what arrives. Also the most an emptied buffer
/// keeps between requests: a consumer that once took a 50 MiB answer must
/// not keep 50 MiB for the rest of its connection.
const TRUSTED_BUFFER: usize = 64 * 1024;

fn frame_length(input: &[u8], max_frame: usize) -> Result<Option<usize>, ConnectionError> {
    if input.len() < 4 {
        return Ok(None);
    }
    let length = i32::from_be_bytes([input[0], input[1], input[2], input[3]]);
    if length < 0 || length as usize > max_frame {
        return Err(ConnectionError::BadFrameLength(
            i64::from(length),
            max_frame,
        ));
    }
    Ok(Some(length as usize))
}

pub(super) fn frame_ready(input: &[u8], max_frame: usize) -> bool {
    matches!(frame_length(input, max_frame), Ok(Some(len)) if input.len() >= 4 + len)
}

/// Splits one whole frame (without its length prefix) off the buffer.
pub fn next_frame(
    input: &mut BytesMut,
    max_frame: usize,
) -> Result<Option<Bytes>, ConnectionError> {
    match frame_length(input, max_frame)? {
        Some(len) if input.len() >= 4 + len => {
            input.advance(4);
            Ok(Some(input.split_to(len).freeze()))
        }
        _ => Ok(None),
    }
}

/// Room for the rest of the frame being read, but past [`TRUSTED_BUFFER`]
/// never more than what has already arrived of it: a header claiming 100 MB
/// followed by a trickle costs what the trickle brought, not 100 MB.
pub(super) fn reserve_for_next_frame(input: &mut BytesMut) {
    let wanted = if input.len() >= 4 {
        let length = i32::from_be_bytes([input[0], input[1], input[2], input[3]]).max(0) as usize;
        (4 + length)
            .saturating_sub(input.len())
            .min(input.len().max(TRUSTED_BUFFER))
    } else {
        INITIAL_READ_BUFFER
    };
    input.reserve(wanted.clamp(INITIAL_READ_BUFFER, MAX_READ_RESERVE));
}

/// Empties `buffer`, giving its memory back if it grew past [`TRUSTED_BUFFER`].
pub(super) fn release_if_large(buffer: &mut BytesMut) {
    if buffer.capacity() > TRUSTED_BUFFER {
        *buffer = BytesMut::new();
    } else {
        buffer.clear();
    }
}

/// A frame decoded as far as the broker reads it before dispatch. Moved
/// once per request, so the large variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum DecodedFrame {
    Request {
        key: ApiKey,
        version: i16,
        header: RequestHeader,
        request: api::Request,
    },
    /// ApiVersions at a version above ours: answered v0-shaped (KIP-511)
    /// without decoding the rest.
    ApiVersionsTooNew { correlation_id: i32 },
}

/// Decodes one frame (without its length prefix): header, then the body
/// for an API and version in the table. Public for the fuzz targets.
pub fn decode_frame(mut frame: Bytes) -> Result<DecodedFrame, ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::TruncatedHeader);
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let entry = api::entry(api_key).ok_or(ConnectionError::UnknownApiKey(api_key))?;
    let key = entry.key;
    if key == ApiKey::ApiVersions && version > entry.max {
        return Ok(DecodedFrame::ApiVersionsTooNew { correlation_id });
    }
    if version < entry.min_supported || version > entry.max {
        return Err(ConnectionError::UnsupportedVersion(key, version));
    }
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version))
        .map_err(|e| ConnectionError::Malformed(key, version, format!("header: {e:#}")))?;
    let request = (entry.decode)(&mut frame, version)
        .map_err(|e| ConnectionError::Malformed(key, version, format!("{e:#}")))?;
    Ok(DecodedFrame::Request {
        key,
        version,
        header,
        request,
    })
}

/// Appends one length-prefixed response to `output`, or nothing if it would
/// not fit in `max_frame` bytes.
pub(super) fn write_response(
    output: &mut BytesMut,
    max_frame: usize,
    header: &ResponseHeader,
    header_version: i16,
    response: &ResponseKind,
    key: ApiKey,
    version: i16,
) -> Result<(), ConnectionError> {
    let encode_error = |e: anyhow::Error| ConnectionError::Encode(key, version, format!("{e:#}"));
    if let Some(body) = records_response_size(response, version) {
        // Refused before encoding: a too-large fetch is never copied.
        let size = header.compute_size(header_version).map_err(encode_error)?
            + body.map_err(encode_error)?;
        if size > max_frame {
            return Err(ConnectionError::ResponseTooLarge(
                key, version, size, max_frame,
            ));
        }
    }
    let start = output.len();
    output.put_i32(0);
    let encoded = header
        .encode(output, header_version)
        .and_then(|()| response.encode(output, version));
    if let Err(e) = encoded {
        output.truncate(start);
        return Err(encode_error(e));
    }
    let size = output.len() - start - 4;
    let length = match i32::try_from(size) {
        Ok(length) if size <= max_frame => length,
        _ => {
            output.truncate(start);
            return Err(ConnectionError::ResponseTooLarge(
                key, version, size, max_frame,
            ));
        }
    };
    output[start..start + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

/// The encoded size of a response that carries record data (the only kind
/// that can grow large), so it can be refused without being encoded.
fn records_response_size(response: &ResponseKind, version: i16) -> Option<anyhow::Result<usize>> {
    match response {
        ResponseKind::Fetch(fetch) => Some(fetch.compute_size(version)),
        _ => None,
    }
}
