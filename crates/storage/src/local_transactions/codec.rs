//! The transaction log's records, framed as `crate::framing` frames:
//! one tag byte, then the fields in `crate::framing`'s field encoding.

use std::collections::HashMap;

use crate::error::Result;
use crate::framing::{encode_frame_with, put_bytes, put_str, Reader};

const STORE: &str = "transaction store";
const TAG_PUT: u8 = 1;
const TAG_REMOVE: u8 = 2;
const TAG_PRODUCER_IDS: u8 = 3;

/// One change to the transaction store; the unit that is logged and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Put {
        id: String,
        state: Vec<u8>,
    },
    Remove {
        id: String,
    },
    /// Producer ids below `next` are reserved (handed out or about to be).
    ProducerIds {
        next: i64,
    },
}

pub(crate) fn encode_frame(record: &Record, out: &mut Vec<u8>) -> Result<()> {
    encode_frame_with(out, STORE, |out| {
        match record {
            Record::Put { id, state } => {
                out.push(TAG_PUT);
                put_str(out, id);
                put_bytes(out, state);
            }
            Record::Remove { id } => {
                out.push(TAG_REMOVE);
                put_str(out, id);
            }
            Record::ProducerIds { next } => {
                out.push(TAG_PRODUCER_IDS);
                out.extend_from_slice(&next.to_be_bytes());
            }
        }
        Ok(())
    })
}

/// Decodes a payload whose CRC matched: an error is a record this code does
/// not understand, not a torn write.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Record> {
    let mut r = Reader::new(payload, STORE);
    let record = match r.u8("tag")? {
        TAG_PUT => Record::Put {
            id: r.string("transactional id")?,
            state: r.bytes("transaction state")?,
        },
        TAG_REMOVE => Record::Remove {
            id: r.string("transactional id")?,
        },
        TAG_PRODUCER_IDS => Record::ProducerIds {
            next: r.i64("next producer id")?,
        },
        tag => return Err(r.malformed(&format!("unknown tag {tag}"))),
    };
    r.finish()?;
    Ok(record)
}

/// The replayed state: what the records written so far add up to.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) transactions: HashMap<String, Vec<u8>>,
    /// Each id's version (0: never stored). Kept after a removal, so a
    /// writer that read the removed state cannot write over the removal.
    pub(crate) versions: HashMap<String, u64>,
    pub(crate) next_producer_id: i64,
}

impl State {
    pub(crate) fn version(&self, id: &str) -> u64 {
        self.versions.get(id).copied().unwrap_or(0)
    }

    pub(crate) fn apply(&mut self, record: Record) {
        match record {
            Record::Put { id, state } => {
                *self.versions.entry(id.clone()).or_insert(0) += 1;
                self.transactions.insert(id, state);
            }
            Record::Remove { id } => {
                self.transactions.remove(&id);
                *self.versions.entry(id).or_insert(0) += 1;
            }
            Record::ProducerIds { next } => {
                self.next_producer_id = self.next_producer_id.max(next);
            }
        }
    }

    /// The live state as framed records (a compacted log's contents).
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let next = self.next_producer_id;
        encode_frame(&Record::ProducerIds { next }, &mut out)?;
        for (id, state) in &self.transactions {
            let (id, state) = (id.clone(), state.clone());
            encode_frame(&Record::Put { id, state }, &mut out)?;
        }
        Ok(out)
    }
}
