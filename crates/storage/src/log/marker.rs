//! Transaction markers: the control batch a transaction coordinator has
//! written into every partition of a transaction to end it there (Kafka's
//! EndTransactionMarker). One control record per batch:
//!
//! - key: version i16 (0), type i16 (0 abort, 1 commit)
//! - value: version i16 (0), coordinator epoch i32
//!
//! The batch carries the producer id and epoch in its header, the
//! transactional and control attributes, and base sequence -1 (markers
//! are not sequenced).

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::{
    BatchView, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CONTROL_BIT, CRC_OFFSET, LOG_OVERHEAD,
    TRANSACTIONAL_BIT,
};

/// The end of one producer's transaction in a partition, as the coordinator
/// decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// An aborted transaction a read_committed consumer must skip: the
/// producer's batches from `first_offset` up to its abort marker are not
/// to be delivered (Fetch's AbortedTransaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

const CONTROL_TYPE_ABORT: i16 = 0;
const CONTROL_TYPE_COMMIT: i16 = 1;
/// Record attributes, timestamp delta and offset delta: all zero, one byte each.
const RECORD_PREFIX: [u8; 3] = [0, 0, 0];
const KEY_LEN: usize = 4;
const VALUE_LEN: usize = 6;
/// Length-prefixed record: prefix, key length varint, key, value length
/// varint, value, header count varint.
const RECORD_BODY_LEN: usize = RECORD_PREFIX.len() + 1 + KEY_LEN + 1 + VALUE_LEN + 1;
/// The whole marker batch: header, one-byte record length, record.
pub(crate) const MARKER_BATCH_LEN: usize = BATCH_HEADER_LEN + 1 + RECORD_BODY_LEN;

/// Zigzag varint of a small non-negative length (fits one byte).
fn small_varint(n: usize) -> u8 {
    debug_assert!(n < 64);
    (n as u8) << 1
}

/// The marker as a control batch ready for offset assignment (base offset
/// 0, leader epoch 0: the log stamps both), timestamped `timestamp`.
pub(crate) fn marker_batch(marker: &TxnMarker, timestamp: i64) -> Bytes {
    let mut buf = BytesMut::with_capacity(MARKER_BATCH_LEN);
    buf.put_i64(0); // base offset
    buf.put_i32((MARKER_BATCH_LEN - LOG_OVERHEAD) as i32);
    buf.put_i32(0); // partition leader epoch
    buf.put_i8(2); // magic
    buf.put_u32(0); // crc, computed below
    buf.put_i16(TRANSACTIONAL_BIT | CONTROL_BIT);
    buf.put_i32(0); // last offset delta
    buf.put_i64(timestamp);
    buf.put_i64(timestamp);
    buf.put_i64(marker.producer_id);
    buf.put_i16(marker.producer_epoch);
    buf.put_i32(-1); // base sequence
    buf.put_i32(1); // record count
    buf.put_u8(small_varint(RECORD_BODY_LEN));
    buf.put_slice(&RECORD_PREFIX);
    buf.put_u8(small_varint(KEY_LEN));
    buf.put_i16(0);
    buf.put_i16(if marker.commit {
        CONTROL_TYPE_COMMIT
    } else {
        CONTROL_TYPE_ABORT
    });
    buf.put_u8(small_varint(VALUE_LEN));
    buf.put_i16(0);
    buf.put_i32(marker.coordinator_epoch);
    buf.put_u8(0); // headers
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
    buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

/// Reads a transaction marker back from a control batch (any control batch
/// Kafka writes has an uncompressed record of this shape). `None` when the
/// batch is no transaction marker (another control type, or not the
/// layout above).
pub fn read_marker(batch: &BatchView<'_>) -> Option<TxnMarker> {
    if !batch.is_control() || batch.compression_codec() != 0 {
        return None;
    }
    let records = batch.as_bytes().get(BATCH_HEADER_LEN..)?;
    let (_, rest) = read_varint(records)?; // record length
    let rest = rest.get(RECORD_PREFIX.len()..)?; // attributes, deltas (one byte each when zero)
    let (key_len, rest) = read_varint(rest)?;
    if key_len < KEY_LEN as i64 {
        return None;
    }
    let key = rest.get(..key_len as usize)?;
    let control_type = i16::from_be_bytes([key[2], key[3]]);
    let rest = &rest[key_len as usize..];
    let (value_len, rest) = read_varint(rest)?;
    let value = rest.get(..usize::try_from(value_len).ok()?)?;
    let coordinator_epoch = match value {
        [_, _, a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => return None,
    };
    let commit = match control_type {
        CONTROL_TYPE_ABORT => false,
        CONTROL_TYPE_COMMIT => true,
        _ => return None,
    };
    Some(TxnMarker {
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        commit,
        coordinator_epoch,
    })
}

/// A zigzag varint (at most 5 bytes) and what follows it.
fn read_varint(buf: &[u8]) -> Option<(i64, &[u8])> {
    let mut raw: u64 = 0;
    for (i, byte) in buf.iter().take(5).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((value, &buf[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchView;
    use crate::log::validate::validate_batch;

    #[test]
    fn a_marker_batch_is_a_valid_control_batch_that_reads_back() {
        for commit in [false, true] {
            let marker = TxnMarker {
                producer_id: 4242,
                producer_epoch: 7,
                commit,
                coordinator_epoch: 31,
            };
            let bytes = marker_batch(&marker, 1_700_000_000_000);
            assert_eq!(bytes.len(), MARKER_BATCH_LEN);
            let view = BatchView::parse(&bytes).unwrap();
            validate_batch(&view, 1 << 20).unwrap();
            assert!(view.is_control() && view.is_transactional());
            assert_eq!(view.base_sequence(), -1);
            assert_eq!((view.producer_id(), view.producer_epoch()), (4242, 7));
            assert_eq!(view.max_timestamp(), 1_700_000_000_000);
            assert_eq!(read_marker(&view), Some(marker));
        }
    }
}
