//! The binary encoding of mutations, framed as `crate::framing` frames.
//!
//! Payload: one tag byte naming the mutation, then its fields in
//! `crate::framing`'s field encoding (producer epochs as i32, the outcome
//! of a transaction as one byte, 1 for commit). Unknown tags are decode
//! errors.

use crate::error::{Result, StorageError};
use crate::framing::{encode_frame_with, put_bytes, put_count, put_str, Reader};
use crate::offsets::{CommittedOffset, OffsetEntry};

const TAG_COMMIT: u8 = 1;
const TAG_DELETE_OFFSETS: u8 = 2;
const TAG_DELETE_GROUP: u8 = 3;
const TAG_DELETE_TOPIC: u8 = 4;
const TAG_SET_METADATA: u8 = 5;
const TAG_CLEAR_METADATA: u8 = 6;
const TAG_PENDING_COMMIT: u8 = 7;
const TAG_END_TRANSACTION: u8 = 8;

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
    /// TxnOffsetCommit: offsets pending until the transaction ends.
    PendingCommit {
        group: String,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<OffsetEntry>,
    },
    /// The transaction marker reaching the group.
    EndTransaction {
        group: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    },
}

/// Appends the framed mutation to `out`.
pub(crate) fn encode_frame(mutation: &Mutation, out: &mut Vec<u8>) -> Result<()> {
    encode_frame_with(out, "offset store", |out| encode_payload(mutation, out))
}

fn encode_payload(mutation: &Mutation, out: &mut Vec<u8>) -> Result<()> {
    match mutation {
        Mutation::Commit { group, offsets } => {
            out.push(TAG_COMMIT);
            put_str(out, group);
            put_entries(out, offsets)?;
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
        Mutation::PendingCommit {
            group,
            producer_id,
            producer_epoch,
            offsets,
        } => {
            out.push(TAG_PENDING_COMMIT);
            put_str(out, group);
            out.extend_from_slice(&producer_id.to_be_bytes());
            out.extend_from_slice(&i32::from(*producer_epoch).to_be_bytes());
            put_entries(out, offsets)?;
        }
        Mutation::EndTransaction {
            group,
            producer_id,
            producer_epoch,
            commit,
        } => {
            out.push(TAG_END_TRANSACTION);
            put_str(out, group);
            out.extend_from_slice(&producer_id.to_be_bytes());
            out.extend_from_slice(&i32::from(*producer_epoch).to_be_bytes());
            out.push(u8::from(*commit));
        }
    }
    Ok(())
}

fn put_entries(out: &mut Vec<u8>, offsets: &[OffsetEntry]) -> Result<()> {
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
    Ok(())
}

/// Epochs are stored as i32 (the framing's field width).
fn read_epoch(r: &mut Reader<'_>) -> Result<i16> {
    let epoch = r.i32("producer epoch")?;
    i16::try_from(epoch).map_err(|_| r.malformed(&format!("producer epoch {epoch}")))
}

fn read_entries(r: &mut Reader<'_>) -> Result<Vec<OffsetEntry>> {
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
    Ok(offsets)
}

/// Decodes a payload whose CRC matched. An error here is not a torn write
/// but a record this code does not understand.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Mutation> {
    let mut r = Reader::new(payload, "offset store");
    let mutation = match r.u8("tag")? {
        TAG_COMMIT => {
            let group = r.string("group")?;
            let offsets = read_entries(&mut r)?;
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
        TAG_PENDING_COMMIT => Mutation::PendingCommit {
            group: r.string("group")?,
            producer_id: r.i64("producer id")?,
            producer_epoch: read_epoch(&mut r)?,
            offsets: read_entries(&mut r)?,
        },
        TAG_END_TRANSACTION => Mutation::EndTransaction {
            group: r.string("group")?,
            producer_id: r.i64("producer id")?,
            producer_epoch: read_epoch(&mut r)?,
            commit: match r.u8("outcome")? {
                0 => false,
                1 => true,
                other => return Err(r.malformed(&format!("transaction outcome {other}"))),
            },
        },
        tag => return Err(r.malformed(&format!("unknown tag {tag}"))),
    };
    r.finish()?;
    Ok(mutation)
}
