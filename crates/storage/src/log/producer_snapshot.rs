//! The producer state as a snapshot (Kafka's `.snapshot` files): one
//! CRC-checked frame (see `framing`) holding every producer's epoch, last
//! timestamp and kept batches, and since format 2 its last coordinator
//! epoch and the first offset of its open transaction (-1: none). Format 1
//! (before transactions) is still read: no transaction was open then. The
//! engine stores it; a damaged snapshot is refused, and the `Log` then
//! rebuilds from the whole log instead.

use std::collections::VecDeque;

use super::{BatchMetadata, ProducerEntry, ProducerStates, BATCHES_KEPT};
use crate::error::Result;
use crate::framing::{encode_frame_with, put_count, read_frame, Frame, Reader};

const STORE: &str = "producer snapshot";
const FORMAT_VERSION: u8 = 2;
/// Before transactions: no coordinator epoch or open transaction per producer.
const FORMAT_VERSION_IDEMPOTENT: u8 = 1;
/// Bytes of one kept batch, to bound counts read back.
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;
const PRODUCER_BYTES: usize = 8 + 4 + 8 + 4;
const NO_TRANSACTION: i64 = -1;

impl ProducerStates {
    pub fn encode_snapshot(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        encode_frame_with(&mut out, STORE, |out| {
            out.push(FORMAT_VERSION);
            put_count(out, self.producers.len());
            for (producer_id, entry) in &self.producers {
                out.extend_from_slice(&producer_id.to_be_bytes());
                out.extend_from_slice(&i32::from(entry.epoch).to_be_bytes());
                out.extend_from_slice(&entry.last_timestamp.to_be_bytes());
                out.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
                let txn_first_offset = entry.txn_first_offset.unwrap_or(NO_TRANSACTION);
                out.extend_from_slice(&txn_first_offset.to_be_bytes());
                put_count(out, entry.batches.len());
                for batch in &entry.batches {
                    out.extend_from_slice(&batch.first_seq.to_be_bytes());
                    out.extend_from_slice(&batch.last_seq.to_be_bytes());
                    out.extend_from_slice(&batch.first_offset.to_be_bytes());
                    out.extend_from_slice(&batch.last_offset.to_be_bytes());
                    out.extend_from_slice(&batch.timestamp.to_be_bytes());
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The state a snapshot holds, or an error if it is damaged.
    pub fn decode_snapshot(bytes: &[u8], expiration_ms: i64) -> Result<ProducerStates> {
        let payload = match read_frame(bytes) {
            Frame::Valid { payload, len } if len == bytes.len() => payload,
            Frame::Valid { .. } => {
                return Err(Reader::new(bytes, STORE).malformed("bytes after the frame"))
            }
            Frame::Torn(why) => return Err(Reader::new(bytes, STORE).malformed(&why)),
        };
        let mut reader = Reader::new(payload, STORE);
        let version = reader.u8("format version")?;
        if version != FORMAT_VERSION && version != FORMAT_VERSION_IDEMPOTENT {
            return Err(reader.malformed(&format!("unknown format version {version}")));
        }
        let mut states = ProducerStates::new(expiration_ms);
        for _ in 0..reader.count(PRODUCER_BYTES, "producer count")? {
            let producer_id = reader.i64("producer id")?;
            let epoch = i16::try_from(reader.i32("producer epoch")?)
                .map_err(|_| reader.malformed("producer epoch"))?;
            let last_timestamp = reader.i64("last timestamp")?;
            let (coordinator_epoch, txn_first_offset) = if version == FORMAT_VERSION_IDEMPOTENT {
                (-1, None)
            } else {
                let coordinator_epoch = reader.i32("coordinator epoch")?;
                let first = reader.i64("transaction first offset")?;
                match first {
                    NO_TRANSACTION => (coordinator_epoch, None),
                    first if first >= 0 => (coordinator_epoch, Some(first)),
                    _ => return Err(reader.malformed("transaction first offset")),
                }
            };
            let kept = reader.count(BATCH_BYTES, "batch count")?;
            if kept > BATCHES_KEPT {
                return Err(reader.malformed("batch count"));
            }
            let mut batches = VecDeque::with_capacity(kept);
            for _ in 0..kept {
                batches.push_back(BatchMetadata {
                    first_seq: reader.i32("first sequence")?,
                    last_seq: reader.i32("last sequence")?,
                    first_offset: reader.i64("first offset")?,
                    last_offset: reader.i64("last offset")?,
                    timestamp: reader.i64("timestamp")?,
                });
            }
            states.put(
                producer_id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_timestamp,
                    coordinator_epoch,
                    txn_first_offset,
                },
            );
        }
        reader.finish()?;
        Ok(states)
    }
}
