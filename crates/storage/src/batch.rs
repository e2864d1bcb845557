//! Zero-copy view over Kafka magic-v2 record batch headers.
//!
//! Layout (big-endian), offsets from the start of the batch:
//!
//! | field                | offset | type |
//! |----------------------|--------|------|
//! | baseOffset           | 0      | i64  |
//! | batchLength          | 8      | i32  | bytes after this field
//! | partitionLeaderEpoch | 12     | i32  |
//! | magic                | 16     | i8   |
//! | crc                  | 17     | u32  | CRC32C over bytes 21..end
//! | attributes           | 21     | i16  |
//! | lastOffsetDelta      | 23     | i32  |
//! | baseTimestamp        | 27     | i64  |
//! | maxTimestamp         | 35     | i64  |
//! | producerId           | 43     | i64  |
//! | producerEpoch        | 51     | i16  |
//! | baseSequence         | 53     | i32  |
//! | recordCount          | 57     | i32  |
//! | records              | 61     |      |
//!
//! baseOffset and partitionLeaderEpoch sit before the CRC'd range, which is why
//! the broker can rewrite them without touching the checksum.

use crate::error::{Result, StorageError};

pub const BASE_OFFSET_OFFSET: usize = 0;
pub const BATCH_LENGTH_OFFSET: usize = 8;
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub const MAGIC_OFFSET: usize = 16;
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
pub const PRODUCER_ID_OFFSET: usize = 43;
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
pub const BASE_SEQUENCE_OFFSET: usize = 53;
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Size of the fixed header; the records start here.
pub const BATCH_HEADER_LEN: usize = 61;
/// baseOffset + batchLength: the part of the header not counted in batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// The smallest batchLength a well-formed v2 batch can carry.
pub const MIN_BATCH_LENGTH: usize = BATCH_HEADER_LEN - LOG_OVERHEAD;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
pub(crate) const TRANSACTIONAL_BIT: i16 = 0x10;
pub(crate) const CONTROL_BIT: i16 = 0x20;

fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(raw)
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(raw)
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Total size in bytes (header included) of the batch starting at `prefix`,
/// read from its first 12 bytes. `None` if the prefix is too short or the
/// length field is impossible (negative or smaller than a header).
pub fn batch_size_from_prefix(prefix: &[u8]) -> Option<usize> {
    if prefix.len() < LOG_OVERHEAD {
        return None;
    }
    let length = read_i32(prefix, BATCH_LENGTH_OFFSET);
    let length = usize::try_from(length).ok()?;
    if length < MIN_BATCH_LENGTH {
        return None;
    }
    Some(LOG_OVERHEAD + length)
}

/// The header fields the log needs, read from a header alone (the records
/// need not be in the buffer), e.g. when scanning a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderInfo {
    pub base_offset: i64,
    /// Total batch size, header included.
    pub size: usize,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub log_append_time: bool,
    /// -1 when the producer is not idempotent.
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Part of a transaction (data batches) or a transaction marker.
    pub is_transactional: bool,
    pub is_control: bool,
}

/// Parses the fixed header at the start of `header` (at least
/// [`BATCH_HEADER_LEN`] bytes; the records may be absent).
pub fn parse_header(header: &[u8]) -> Result<HeaderInfo> {
    if header.len() < BATCH_HEADER_LEN {
        return Err(StorageError::CorruptBatch(format!(
            "truncated batch header: {} bytes, need {BATCH_HEADER_LEN}",
            header.len()
        )));
    }
    let size = batch_size_from_prefix(header).ok_or_else(|| {
        StorageError::CorruptBatch(format!(
            "batch length {} is smaller than a v2 header",
            read_i32(header, BATCH_LENGTH_OFFSET)
        ))
    })?;
    let base_offset = read_i64(header, BASE_OFFSET_OFFSET);
    Ok(HeaderInfo {
        base_offset,
        size,
        last_offset: base_offset
            .saturating_add(i64::from(read_i32(header, LAST_OFFSET_DELTA_OFFSET))),
        max_timestamp: read_i64(header, MAX_TIMESTAMP_OFFSET),
        partition_leader_epoch: read_i32(header, PARTITION_LEADER_EPOCH_OFFSET),
        magic: header[MAGIC_OFFSET] as i8,
        log_append_time: read_i16(header, ATTRIBUTES_OFFSET) & TIMESTAMP_TYPE_BIT != 0,
        producer_id: read_i64(header, PRODUCER_ID_OFFSET),
        producer_epoch: read_i16(header, PRODUCER_EPOCH_OFFSET),
        base_sequence: read_i32(header, BASE_SEQUENCE_OFFSET),
        is_transactional: read_i16(header, ATTRIBUTES_OFFSET) & TRANSACTIONAL_BIT != 0,
        is_control: read_i16(header, ATTRIBUTES_OFFSET) & CONTROL_BIT != 0,
    })
}

/// A complete record batch (header plus records) borrowed from a buffer. The
/// constructor guarantees the slice holds at least a whole header and exactly
/// `batchLength + 12` bytes, so the accessors cannot go out of bounds.
#[derive(Clone, Copy, Debug)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchView<'a> {
    /// Views the batch at the start of `buf`. Errors if the buffer is shorter
    /// than the batch claims to be or the length field is impossible.
    pub fn parse(buf: &'a [u8]) -> Result<BatchView<'a>> {
        let size = parse_header(buf)?.size;
        if size > buf.len() {
            return Err(StorageError::CorruptBatch(format!(
                "truncated batch: length says {size} bytes, only {} present",
                buf.len()
            )));
        }
        Ok(BatchView {
            bytes: &buf[..size],
        })
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Total size in bytes, header included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        read_i64(self.bytes, BASE_OFFSET_OFFSET)
    }
    pub fn batch_length(&self) -> i32 {
        read_i32(self.bytes, BATCH_LENGTH_OFFSET)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.bytes, PARTITION_LEADER_EPOCH_OFFSET)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC_OFFSET] as i8
    }
    pub fn crc(&self) -> u32 {
        read_i32(self.bytes, CRC_OFFSET) as u32
    }
    pub fn attributes(&self) -> i16 {
        read_i16(self.bytes, ATTRIBUTES_OFFSET)
    }
    /// Compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression_codec(&self) -> u8 {
        (self.attributes() & COMPRESSION_MASK) as u8
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }
    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.bytes, BASE_TIMESTAMP_OFFSET)
    }
    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.bytes, MAX_TIMESTAMP_OFFSET)
    }
    pub fn producer_id(&self) -> i64 {
        read_i64(self.bytes, PRODUCER_ID_OFFSET)
    }
    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.bytes, PRODUCER_EPOCH_OFFSET)
    }
    pub fn base_sequence(&self) -> i32 {
        read_i32(self.bytes, BASE_SEQUENCE_OFFSET)
    }
    pub fn record_count(&self) -> i32 {
        read_i32(self.bytes, RECORD_COUNT_OFFSET)
    }
    /// Offset of the last record, saturating so hostile headers cannot overflow.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
    /// CRC32C of bytes 21..end, as it should be stored in the crc field.
    pub fn header_info(&self) -> HeaderInfo {
        HeaderInfo {
            base_offset: self.base_offset(),
            size: self.size(),
            last_offset: self.last_offset(),
            max_timestamp: self.max_timestamp(),
            partition_leader_epoch: self.partition_leader_epoch(),
            magic: self.magic(),
            log_append_time: self.is_log_append_time(),
            producer_id: self.producer_id(),
            producer_epoch: self.producer_epoch(),
            base_sequence: self.base_sequence(),
            is_transactional: self.is_transactional(),
            is_control: self.is_control(),
        }
    }
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[ATTRIBUTES_OFFSET..])
    }
    pub fn crc_is_valid(&self) -> bool {
        self.crc() == self.compute_crc()
    }
}

/// Iterates the batches laid end to end in a buffer. Yields each complete
/// batch; at the first truncated or impossible batch it yields one error and
/// then stops. Never allocates and never reads past the buffer.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
    done: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            position: 0,
            done: false,
        }
    }
    /// Bytes consumed by the batches yielded so far (the start of the next one).
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.position >= self.buf.len() {
            return None;
        }
        match BatchView::parse(&self.buf[self.position..]) {
            Ok(view) => {
                self.position += view.size();
                Some(Ok(view))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

/// Iterates the batches in `buf` (see [`BatchIter`]).
pub fn batches(buf: &[u8]) -> BatchIter<'_> {
    BatchIter::new(buf)
}

/// A copy of a batch's fixed header with the fields the broker rewrites
/// patched. The records stay where the producer's request put them: the
/// store writes this header and then the rest of the batch as produced
/// (one vectored write), so a produced batch is never copied in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchedHeader {
    bytes: [u8; BATCH_HEADER_LEN],
    /// The whole batch's size, header included.
    size: usize,
}

impl PatchedHeader {
    /// The header of `batch`, unpatched so far.
    pub fn of(batch: &BatchView<'_>) -> PatchedHeader {
        let mut bytes = [0u8; BATCH_HEADER_LEN];
        bytes.copy_from_slice(&batch.as_bytes()[..BATCH_HEADER_LEN]);
        PatchedHeader {
            bytes,
            size: batch.size(),
        }
    }

    /// The header as it is to be stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The fields the log needs, read from the patched header.
    pub fn info(&self) -> Result<HeaderInfo> {
        parse_header(&self.bytes)
    }

    /// Not covered by the CRC: no checksum update needed.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.bytes[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8]
            .copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Not covered by the CRC: no checksum update needed.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.bytes[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
            .copy_from_slice(&epoch.to_be_bytes());
    }

    /// Marks the batch as LogAppendTime with `now` as its max timestamp, as
    /// Kafka does. Both fields are checksummed: the new CRC is worked out
    /// from the one the header holds (the batch's, as validation found it)
    /// and the fields' old and new bytes, without reading the records again.
    pub fn set_log_append_time(&mut self, now: i64) {
        let mut old_head = [0u8; PRODUCER_ID_OFFSET - ATTRIBUTES_OFFSET];
        old_head.copy_from_slice(&self.bytes[ATTRIBUTES_OFFSET..PRODUCER_ID_OFFSET]);
        let attributes = read_i16(&self.bytes, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
        self.bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        self.bytes[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&now.to_be_bytes());
        let crc = crate::crc::replace_head(
            read_i32(&self.bytes, CRC_OFFSET) as u32,
            &old_head,
            &self.bytes[ATTRIBUTES_OFFSET..PRODUCER_ID_OFFSET],
            self.size - PRODUCER_ID_OFFSET,
        );
        self.bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}
