//! Record framing and the binary encoding of mutations.
//!
//! Frame: `[u32 length][u32 crc32c(payload)][payload]`, big-endian like
//! Kafka. Payload: one tag byte naming the mutation, then its fields:
//! strings and byte strings as `u32 length + bytes`, optional strings as
//! `i32 length` (-1 for none), lists as `u32 count + items`, integers
//! big-endian at their natural width. Unknown tags are decode errors.

use crate::error::{Result, StorageError};
use crate::offsets::{CommittedOffset, OffsetEntry};

/// Frame header: length and CRC32C.
pub(crate) const FRAME_HEADER: usize = 8;
/// Larger frames are refused when writing and treated as corrupt when reading.
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

const TAG_COMMIT: u8 = 1;
const TAG_DELETE_OFFSETS: u8 = 2;
const TAG_DELETE_GROUP: u8 = 3;
const TAG_DELETE_TOPIC: u8 = 4;
const TAG_SET_METADATA: u8 = 5;
const TAG_CLEAR_METADATA: u8 = 6;

/// One change to the offset store; the unit that is logged and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mutation {
    Commit {
        group: String,
        offsets: Vec<OffsetEntry>,
    },
    DeleteOffsets {
        group: String,
        partitions: Vec<(String, i32)>,
    },
    DeleteGroup {
        group: String,
    },
    DeleteTopic {
        topic: String,
    },
    SetMetadata {
        group: String,
        metadata: Vec<u8>,
    },
    ClearMetadata {
        group: String,
    },
}

/// Appends the framed mutation to `out`.
pub(crate) fn encode_frame(mutation: &Mutation, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    encode_payload(mutation, out)?;
    let payload_len = out.len() - start - FRAME_HEADER;
    if payload_len > MAX_PAYLOAD {
        out.truncate(start);
        return Err(StorageError::Metadata(format!(
            "offset store record of {payload_len} bytes exceeds {MAX_PAYLOAD}"
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

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths beyond u32 cannot occur: the whole payload is capped far below.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn encode_payload(mutation: &Mutation, out: &mut Vec<u8>) -> Result<()> {
    match mutation {
        Mutation::Commit { group, offsets } => {
            out.push(TAG_COMMIT);
            put_str(out, group);
            put_count(out, offsets.len());
            for entry in offsets {
                let c = &entry.committed;
                put_str(out, &entry.topic);
                out.extend_from_slice(&entry.partition.to_be_bytes());
                out.extend_from_slice(&c.offset.to_be_bytes());
                out.extend_from_slice(&c.leader_epoch.to_be_bytes());
                match &c.metadata {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(m) => {
                        let len = i32::try_from(m.len()).map_err(|_| {
                            StorageError::Metadata(format!(
                                "offset metadata of {} bytes is too long",
                                m.len()
                            ))
                        })?;
                        out.extend_from_slice(&len.to_be_bytes());
                        out.extend_from_slice(m.as_bytes());
                    }
                }
                out.extend_from_slice(&c.commit_timestamp.to_be_bytes());
                out.extend_from_slice(&c.expire_timestamp.to_be_bytes());
            }
        }
        Mutation::DeleteOffsets { group, partitions } => {
            out.push(TAG_DELETE_OFFSETS);
            put_str(out, group);
            put_count(out, partitions.len());
            for (topic, partition) in partitions {
                put_str(out, topic);
                out.extend_from_slice(&partition.to_be_bytes());
            }
        }
        Mutation::DeleteGroup { group } => {
            out.push(TAG_DELETE_GROUP);
            put_str(out, group);
        }
        Mutation::DeleteTopic { topic } => {
            out.push(TAG_DELETE_TOPIC);
            put_str(out, topic);
        }
        Mutation::SetMetadata { group, metadata } => {
            out.push(TAG_SET_METADATA);
            put_str(out, group);
            put_bytes(out, metadata);
        }
        Mutation::ClearMetadata { group } => {
            out.push(TAG_CLEAR_METADATA);
            put_str(out, group);
        }
    }
    Ok(())
}

/// A bounds-checked cursor over a payload.
struct Reader<'a> {
    buf: &'a [u8],
}

fn malformed(what: &str) -> StorageError {
    StorageError::Metadata(format!("malformed offset store record: {what}"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(malformed(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| malformed(what))
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn bytes(&mut self, what: &str) -> Result<Vec<u8>> {
        let len = self.u32(what)? as usize;
        Ok(self.take(len, what)?.to_vec())
    }

    fn string(&mut self, what: &str) -> Result<String> {
        String::from_utf8(self.bytes(what)?).map_err(|_| malformed(what))
    }

    fn opt_string(&mut self, what: &str) -> Result<Option<String>> {
        let len = self.i32(what)?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize, what)?.to_vec();
        String::from_utf8(raw)
            .map(Some)
            .map_err(|_| malformed(what))
    }

    /// A list count, checked against the bytes left so a corrupt count
    /// cannot make us reserve gigabytes.
    fn count(&mut self, min_item: usize, what: &str) -> Result<usize> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(malformed(what));
        }
        Ok(n)
    }
}

/// Decodes a payload whose CRC matched. An error here is not a torn write
/// but a record this code does not understand.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Mutation> {
    let mut r = Reader { buf: payload };
    let mutation = match r.u8("tag")? {
        TAG_COMMIT => {
            let group = r.string("group")?;
            let n = r.count(4 + 4 + 8 + 4 + 4 + 8 + 8, "offset count")?;
            let mut offsets = Vec::with_capacity(n);
            for _ in 0..n {
                let topic = r.string("topic")?;
                let partition = r.i32("partition")?;
                let committed = CommittedOffset {
                    offset: r.i64("offset")?,
                    leader_epoch: r.i32("leader epoch")?,
                    metadata: r.opt_string("offset metadata")?,
                    commit_timestamp: r.i64("commit timestamp")?,
                    expire_timestamp: r.i64("expire timestamp")?,
                };
                offsets.push(OffsetEntry {
                    topic,
                    partition,
                    committed,
                });
            }
            Mutation::Commit { group, offsets }
        }
        TAG_DELETE_OFFSETS => {
            let group = r.string("group")?;
            let n = r.count(4 + 4, "partition count")?;
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                partitions.push((r.string("topic")?, r.i32("partition")?));
            }
            Mutation::DeleteOffsets { group, partitions }
        }
        TAG_DELETE_GROUP => Mutation::DeleteGroup {
            group: r.string("group")?,
        },
        TAG_DELETE_TOPIC => Mutation::DeleteTopic {
            topic: r.string("topic")?,
        },
        TAG_SET_METADATA => Mutation::SetMetadata {
            group: r.string("group")?,
            metadata: r.bytes("group metadata")?,
        },
        TAG_CLEAR_METADATA => Mutation::ClearMetadata {
            group: r.string("group")?,
        },
        tag => return Err(malformed(&format!("unknown tag {tag}"))),
    };
    if !r.buf.is_empty() {
        return Err(malformed(&format!("{} trailing bytes", r.buf.len())));
    }
    Ok(mutation)
}
