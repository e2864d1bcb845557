//! Magic-v2 record batches as a producer sends them, encoded by the
//! `kafka-protocol` crate: base offset 0, sequence numbers that keep the
//! crate's encoder to one batch, keys `key-<i>` unless given.

use bytes::{Bytes, BytesMut};
pub use kafka_protocol::records::Compression;
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

pub const ALL_COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A fixed timestamp (2023-11-14) for tests that do not care when; tests
/// whose broker applies time retention want `now_ms()`.
pub const SOME_TIME_MS: i64 = 1_700_000_000_000;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The `index`th record of a batch. The crate's encoder starts a new batch
/// whenever offset − sequence changes; keeping both at `index` gives one
/// batch with base offset 0, as a producer sends.
pub fn record(index: usize, key: Option<Bytes>, value: Option<Bytes>, timestamp: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: index as i64,
        sequence: index as i32,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// `records` encoded as one batch (or several, if their offsets and
/// sequences say so). Panics if the crate cannot encode them: a test bug.
pub fn encode(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, records, &options) {
        panic!("test batch does not encode: {e}");
    }
    buf.freeze()
}

/// One batch of `count` records, keys `key-<i>`, values of `value_len`
/// bytes, timestamps `first_timestamp + i`.
pub fn batch_with(
    count: usize,
    compression: Compression,
    first_timestamp: i64,
    value_len: usize,
) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| {
            record(
                i,
                Some(Bytes::from(format!("key-{i}"))),
                Some(Bytes::from(vec![b'v'; value_len])),
                first_timestamp + i as i64,
            )
        })
        .collect();
    encode(&records, compression)
}

/// One uncompressed batch of `count` records from an idempotent producer,
/// its sequences from `base_sequence` (values `seq-<sequence>`, so a retry
/// carries the same bytes), at `timestamp`.
pub fn idempotent_batch(
    count: usize,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    timestamp: i64,
) -> Bytes {
    let producer = (producer_id, producer_epoch, base_sequence);
    producer_batch(count, producer, timestamp, false)
}

/// [`idempotent_batch`] with the transactional attribute, as a
/// transactional producer sends its batches.
pub fn transactional_batch(
    count: usize,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    timestamp: i64,
) -> Bytes {
    let producer = (producer_id, producer_epoch, base_sequence);
    producer_batch(count, producer, timestamp, true)
}

/// `count` records of `(producer id, epoch, base sequence)`.
fn producer_batch(
    count: usize,
    (producer_id, producer_epoch, base_sequence): (i64, i16, i32),
    timestamp: i64,
    transactional: bool,
) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| {
            let sequence = base_sequence + i as i32;
            Record {
                transactional,
                producer_id,
                producer_epoch,
                // The encoder takes the base sequence from the first record
                // and keeps one batch while offset - sequence is constant.
                offset: i as i64,
                sequence,
                ..record(
                    i,
                    None,
                    Some(Bytes::from(format!("seq-{sequence}"))),
                    timestamp,
                )
            }
        })
        .collect();
    encode(&records, Compression::None)
}

/// One batch of `count` records with 16-byte values at `SOME_TIME_MS`.
pub fn batch(count: usize, compression: Compression) -> Bytes {
    batch_with(count, compression, SOME_TIME_MS, 16)
}

/// One uncompressed batch holding these values (no keys), all at `timestamp`.
pub fn batch_of_values(values: impl IntoIterator<Item = Bytes>, timestamp: i64) -> Bytes {
    let records: Vec<Record> = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| record(i, None, Some(value), timestamp))
        .collect();
    encode(&records, Compression::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn a_batch_decodes_to_what_was_asked_for() {
        for compression in ALL_COMPRESSIONS {
            let mut bytes = batch_with(3, compression, 1000, 5);
            let decoded = RecordBatchDecoder::decode(&mut bytes).unwrap();
            assert_eq!(decoded.records.len(), 3, "{compression:?}");
            let last = &decoded.records[2];
            assert_eq!(last.offset, 2);
            assert_eq!(last.timestamp, 1002);
            assert_eq!(last.key.as_deref(), Some(&b"key-2"[..]));
            assert_eq!(last.value.as_deref(), Some(&b"vvvvv"[..]));
        }
        let mut values = batch_of_values([Bytes::from("a"), Bytes::from("b")], 7);
        let decoded = RecordBatchDecoder::decode(&mut values).unwrap();
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.records[1].value.as_deref(), Some(&b"b"[..]));
        assert_eq!(decoded.records[1].key, None);
    }
}
