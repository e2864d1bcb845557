//! The producer state as a snapshot (Kafka's `.snapshot` files): one
//! CRC-checked frame (see `framing`) holding every producer's epoch, last
//! timestamp and kept batches. The engine stores it; a damaged snapshot is
//! refused, and the `Log` then rebuilds from the whole log instead.

use std::collections::VecDeque;

use super::{BatchMetadata, ProducerEntry, ProducerStates, BATCHES_KEPT};
use crate::error::Result;
use crate::framing::{encode_frame_with, put_count, read_frame, Frame, Reader};

const STORE: &str = "producer snapshot";
const FORMAT_VERSION: u8 = 1;
/// Bytes of one kept batch, to bound counts read back.
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;
const PRODUCER_BYTES: usize = 8 + 4 + 8 + 4;

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
        if version != FORMAT_VERSION {
            return Err(reader.malformed(&format!("unknown format version {version}")));
        }
        let mut states = ProducerStates::new(expiration_ms);
        for _ in 0..reader.count(PRODUCER_BYTES, "producer count")? {
            let producer_id = reader.i64("producer id")?;
            let epoch = i16::try_from(reader.i32("producer epoch")?)
                .map_err(|_| reader.malformed("producer epoch"))?;
            let last_timestamp = reader.i64("last timestamp")?;
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
            states.producers.insert(
                producer_id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_timestamp,
                },
            );
        }
        reader.finish()?;
        Ok(states)
    }
}
