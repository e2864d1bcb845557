//! The wire side of a connection: splitting length-prefixed frames off the
//! read buffer (and sizing that buffer by what has arrived, not by what a
//! frame claims), decoding a frame's header and body through the API
//! registry, and framing responses within the size a length prefix can say.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fjord_storage::FileRange;
use kafka_protocol::messages::{
    ApiKey, FetchResponse, RequestHeader, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::{Decodable, Encodable};

use super::output::{is_placeholder, Output};
use super::ConnectionError;
use crate::api;

/// The largest response frame: its length prefix is a signed 32-bit int.
pub(super) const MAX_RESPONSE_FRAME: usize = i32::MAX as usize;
pub(super) const INITIAL_READ_BUFFER: usize = 8 * 1024;
/// The most we grow the read buffer by at once, whatever a frame claims.
const MAX_READ_RESERVE: usize = 1 << 20;
/// Frame lengths up to this are believed, if the broker-wide budget for
/// room set aside ahead of arrival allows: once such a frame's length
/// prefix has arrived, the rest is read into a buffer of exactly its size,
/// so it is never grown (and what it holds copied) on the way, and the read
/// stops at its end, so the next frame starts in a fresh small buffer
/// rather than being moved. 1 MiB: a Java producer's `max.request.size`.
/// Other frames are read into room that grows with what arrives of them.
const BELIEVED_FRAME: usize = 1 << 20;
/// The most an emptied buffer keeps between requests: a consumer that once
/// took a 50 MiB answer must not keep 50 MiB for the rest of its connection.
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

/// Room for the rest of the frame being read: all of it for a frame of up
/// to [`BELIEVED_FRAME`] when `hold_room` grants its size (see there);
/// otherwise never more than what has already arrived of it, so a header
/// claiming 100 MB followed by a trickle costs what the trickle brought.
pub(super) fn reserve_for_next_frame(input: &mut BytesMut, hold_room: impl FnOnce(usize) -> bool) {
    if input.len() < 4 {
        input.reserve(INITIAL_READ_BUFFER);
        return;
    }
    let length = i32::from_be_bytes([input[0], input[1], input[2], input[3]]).max(0) as usize;
    let frame = 4 + length;
    if input.capacity() >= frame {
        return;
    }
    if frame <= BELIEVED_FRAME && hold_room(frame) {
        let mut exact = BytesMut::with_capacity(frame);
        exact.extend_from_slice(input);
        *input = exact;
        return;
    }
    let wanted = frame
        .saturating_sub(input.len())
        .min(input.len().max(TRUSTED_BUFFER));
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

/// Appends one length-prefixed Fetch response whose placeholder records
/// (see `output::records_placeholder`) stand, in encoding order, for the
/// entries of `files`: the codec encodes everything else, and each
/// placeholder becomes the real length prefix and a hole the writer fills
/// from the files. Nothing is appended if the frame would exceed `max_frame`.
pub(super) fn write_fetch_with_files(
    output: &mut Output,
    max_frame: usize,
    header: &ResponseHeader,
    header_version: i16,
    response: &FetchResponse,
    version: i16,
    files: Vec<Vec<FileRange>>,
) -> Result<(), ConnectionError> {
    let key = ApiKey::Fetch;
    let encode_error = |e: anyhow::Error| ConnectionError::Encode(key, version, format!("{e:#}"));
    let lens: Vec<u64> = files
        .iter()
        .map(|ranges| ranges.iter().map(FileRange::len).sum())
        .collect();
    let file_bytes = lens
        .iter()
        .try_fold(0usize, |sum, len| {
            sum.checked_add(usize::try_from(*len).ok()?)
        })
        .unwrap_or(usize::MAX);
    // Refused before encoding, as every records-carrying response.
    let size = (header.compute_size(header_version).map_err(encode_error)?
        + response.compute_size(version).map_err(encode_error)?)
    .saturating_add(file_bytes);
    if size > max_frame {
        return Err(ConnectionError::ResponseTooLarge(
            key, version, size, max_frame,
        ));
    }
    let start = output.bytes.len();
    output.bytes.put_i32(0);
    let mut holes = HoleBuf {
        out: &mut output.bytes,
        flexible: version >= FETCH_FLEXIBLE_VERSION,
        lens: lens.iter(),
        holes: Vec::with_capacity(files.len()),
        failed: None,
    };
    let encoded = header
        .encode(&mut holes, header_version)
        .and_then(|()| response.encode(&mut holes, version));
    let failed = match (encoded, holes.failed.take()) {
        (Err(e), _) => Some(format!("{e:#}")),
        (Ok(()), Some(why)) => Some(why),
        (Ok(()), None) if holes.holes.len() != files.len() => Some(format!(
            "{} placeholders for {} file records",
            holes.holes.len(),
            files.len()
        )),
        (Ok(()), None) => None,
    };
    let at = std::mem::take(&mut holes.holes);
    if let Some(why) = failed {
        output.truncate(start);
        return Err(ConnectionError::Encode(key, version, why));
    }
    let size = (output.bytes.len() - start - 4).saturating_add(file_bytes);
    let length = match i32::try_from(size) {
        Ok(length) if size <= max_frame => length,
        _ => {
            output.truncate(start);
            return Err(ConnectionError::ResponseTooLarge(
                key, version, size, max_frame,
            ));
        }
    };
    output.bytes[start..start + 4].copy_from_slice(&length.to_be_bytes());
    for (at, ranges) in at.into_iter().zip(files) {
        output.add_hole(at, ranges);
    }
    Ok(())
}

/// From this version Fetch responses are flexible (compact lengths).
const FETCH_FLEXIBLE_VERSION: i16 = 12;

/// The codec's output buffer, turning each placeholder the codec writes
/// into the length prefix of the records it stands for and noting where
/// their bytes go. The codec has written the placeholder's own (empty)
/// length prefix just before: a 4-byte 0, or (compact) the varint 1.
struct HoleBuf<'a> {
    out: &'a mut BytesMut,
    flexible: bool,
    lens: std::slice::Iter<'a, u64>,
    holes: Vec<usize>,
    failed: Option<String>,
}

impl HoleBuf<'_> {
    fn fill(&mut self) {
        let Some(&len) = self.lens.next() else {
            self.failed = Some("more placeholders than file records".to_string());
            return;
        };
        let Ok(len) = i32::try_from(len) else {
            self.failed = Some(format!("records of {len} bytes"));
            return;
        };
        let end = self.out.len();
        if self.flexible {
            if end < 1 || self.out[end - 1] != 1 {
                self.failed = Some("no compact length before a placeholder".to_string());
                return;
            }
            self.out.truncate(end - 1);
            let mut value = len as u32 + 1;
            while value >= 0x80 {
                self.out.put_u8((value as u8 & 0x7f) | 0x80);
                value >>= 7;
            }
            self.out.put_u8(value as u8);
        } else {
            if end < 4 || self.out[end - 4..] != [0, 0, 0, 0] {
                self.failed = Some("no length before a placeholder".to_string());
                return;
            }
            self.out.truncate(end - 4);
            self.out.put_i32(len);
        }
        self.holes.push(self.out.len());
    }
}

// SAFETY: every method hands on to the `BytesMut`, which upholds the
// contract; `put_slice` writes through it too (or only truncates it).
unsafe impl BufMut for HoleBuf<'_> {
    fn remaining_mut(&self) -> usize {
        self.out.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's promise (cnt bytes of chunk_mut initialised)
        // is about the chunk `chunk_mut` returned, which is the BytesMut's.
        unsafe { self.out.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        self.out.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if is_placeholder(src) {
            self.fill();
        } else {
            self.out.put_slice(src);
        }
    }
}

impl ByteBufMut for HoleBuf<'_> {
    fn offset(&self) -> usize {
        self.out.len()
    }

    fn seek(&mut self, offset: usize) {
        self.out.resize(offset, 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.out[r]
    }
}

/// A SASL token after a v0 handshake: only a length before it.
pub(super) fn write_raw_token(out: &mut BytesMut, token: &[u8]) -> Result<(), ConnectionError> {
    let length = i32::try_from(token.len()).map_err(|_| {
        ConnectionError::Encode(
            kafka_protocol::messages::ApiKey::SaslAuthenticate,
            0,
            "SASL token too large".to_string(),
        )
    })?;
    out.put_i32(length);
    out.put_slice(token);
    Ok(())
}
