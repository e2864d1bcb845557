//! The record framing and field encoding shared by the small append-only
//! logs of the storage crate (committed offsets, transaction state).
//!
//! Frame: `[u32 length][u32 crc32c(payload)][payload]`, big-endian like
//! Kafka. Inside a payload: strings and byte strings as `u32 length +
//! bytes`, optional strings as `i32 length` (-1 for none), lists as `u32
//! count + items`, integers big-endian at their natural width.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Result, StorageError};
use crate::local::io_context;

/// Frame header: length and CRC32C.
pub(crate) const FRAME_HEADER: usize = 8;
/// Larger frames are refused when writing and treated as corrupt when reading.
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// Appends one frame to `out` whose payload `encode` writes; `store` names
/// the log in errors. On error `out` is left as it was.
pub(crate) fn encode_frame_with(
    out: &mut Vec<u8>,
    store: &str,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    if let Err(err) = encode(out) {
        out.truncate(start);
        return Err(err);
    }
    let payload_len = out.len() - start - FRAME_HEADER;
    if payload_len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(StorageError::Metadata(format!(
            "{store} record of {payload_len} bytes exceeds {MAX_PAYLOAD}"
        )));
    }
    let crc = crc32c::crc32c(&out[start + FRAME_HEADER..]);
    // payload_len <= MAX_PAYLOAD < u32::MAX, so the cast is lossless.
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// What the frame at the start of a buffer is.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A complete frame with a matching CRC; `len` includes the header.
    Valid { payload: &'a [u8], len: usize },
    /// Torn (cut short) or corrupt (bad length or CRC): recovery stops here.
    Torn(String),
}

/// Reads the frame at the start of `buf` (which must not be empty).
pub(crate) fn read_frame(buf: &[u8]) -> Frame<'_> {
    let Some((header, rest)) = buf.split_first_chunk::<FRAME_HEADER>() else {
        return Frame::Torn(format!("{} bytes, short of a frame header", buf.len()));
    };
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *header;
    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    let crc = u32::from_be_bytes([c0, c1, c2, c3]);
    if len == 0 || len > MAX_PAYLOAD {
        // Zero covers a zero-filled tail (size updated, data lost in a
        // crash): its CRC would match, but no record is empty.
        return Frame::Torn(format!("frame length {len} outside 1..={MAX_PAYLOAD}"));
    }
    let Some(payload) = rest.get(..len) else {
        return Frame::Torn(format!("frame of {len} bytes cut at {}", rest.len()));
    };
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Frame::Torn(format!("crc32c {actual:#010x}, frame says {crc:#010x}"));
    }
    Frame::Valid {
        payload,
        len: FRAME_HEADER + len,
    }
}

/// Hands the payload of every complete frame of `buf` to `apply`, in order,
/// and returns the length of that valid prefix. Stops at the first torn or
/// corrupt frame (the caller cuts the file there); a payload that `apply`
/// refuses is an error, not a torn write: cutting it would lose records a
/// newer version wrote. `store` names the log in messages.
pub(crate) fn replay_frames(
    buf: &[u8],
    store: &str,
    mut apply: impl FnMut(&[u8]) -> Result<()>,
) -> Result<usize> {
    let mut pos = 0;
    while pos < buf.len() {
        match read_frame(&buf[pos..]) {
            Frame::Valid { payload, len } => {
                apply(payload)
                    .map_err(|e| StorageError::Metadata(format!("record at byte {pos}: {e}")))?;
                pos += len;
            }
            Frame::Torn(why) => {
                tracing::warn!(
                    at = pos,
                    dropped = buf.len() - pos,
                    "{store} log has a torn or corrupt tail ({why}); truncating"
                );
                break;
            }
        }
    }
    Ok(pos)
}

/// Opens (creating) the log at `path` for appends, replays it through
/// `apply` (see [`replay_frames`]), cuts any torn tail and fsyncs what is
/// kept, so it may be served as durable. Returns the file and its length.
pub(crate) fn open_log(
    path: &Path,
    store: &str,
    apply: impl FnMut(&[u8]) -> Result<()>,
) -> Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| io_context("open", path, e))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| io_context("read", path, e))?;
    let valid = replay_frames(&buf, store, apply).map_err(|e| match e {
        StorageError::Metadata(msg) => StorageError::Metadata(format!("{}: {msg}", path.display())),
        other => other,
    })?;
    if valid < buf.len() {
        file.set_len(valid as u64)
            .map_err(|e| io_context("truncate", path, e))?;
    }
    // Also covers records a crashed process left only in the page cache.
    file.sync_all().map_err(|e| io_context("fsync", path, e))?;
    Ok((file, valid as u64))
}

/// Writes `contents` to `temp`, fsyncs it and renames it to `path`.
/// Returns the handle, positioned for appends, once the rename is done; the
/// caller fsyncs the directory. Before the rename nothing visible changed,
/// and the temp file is removed on failure.
pub(crate) fn write_replacement(temp: &Path, path: &Path, contents: &[u8]) -> Result<File> {
    let written = (|| {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(temp)
            .map_err(|e| io_context("create", temp, e))?;
        file.set_len(0)
            .map_err(|e| io_context("truncate", temp, e))?;
        file.write_all(contents)
            .map_err(|e| io_context("write", temp, e))?;
        file.sync_all().map_err(|e| io_context("fsync", temp, e))?;
        std::fs::rename(temp, path).map_err(|e| io_context("rename to", path, e))?;
        Ok(file)
    })();
    if written.is_err() {
        if let Err(e) = std::fs::remove_file(temp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %temp.display(), error = %e, "cannot remove temp file");
            }
        }
    }
    written
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths beyond u32 cannot occur: the whole payload is capped far below.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

pub(crate) fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// A bounds-checked cursor over a payload.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    /// Names the log in errors.
    store: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], store: &'static str) -> Self {
        Reader { buf, store }
    }

    /// The error for a payload that does not decode.
    pub(crate) fn malformed(&self, what: &str) -> StorageError {
        StorageError::Metadata(format!("malformed {} record: {what}", self.store))
    }

    /// Fails unless the whole payload was read.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(&format!("{} trailing bytes", self.buf.len())))
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(self.malformed(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| self.malformed(what))
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn bytes(&mut self, what: &str) -> Result<Vec<u8>> {
        let len = self.u32(what)? as usize;
        Ok(self.take(len, what)?.to_vec())
    }

    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        String::from_utf8(self.bytes(what)?).map_err(|_| self.malformed(what))
    }

    pub(crate) fn opt_string(&mut self, what: &str) -> Result<Option<String>> {
        let len = self.i32(what)?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize, what)?.to_vec();
        String::from_utf8(raw)
            .map(Some)
            .map_err(|_| self.malformed(what))
    }

    /// A list count, checked against the bytes left so a corrupt count
    /// cannot make us reserve gigabytes.
    pub(crate) fn count(&mut self, min_item: usize, what: &str) -> Result<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(self.malformed(what));
        }
        Ok(n)
    }
}
