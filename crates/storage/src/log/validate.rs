//! Validation of produced batches, before the log assigns their offsets:
//! Kafka's LogValidator checks for magic-v2 batches kept as they are
//! (magic, size limit, CRC32C, record count). Only headers are read, never
//! the records, so validation costs one CRC pass over the bytes.

use crate::batch::{batches, BatchView, BATCH_HEADER_LEN};
use crate::error::{Result, StorageError};

/// Smallest encoded record: seven one-byte varints.
const MIN_RECORD_LEN: usize = 7;

/// Checks one batch as produced: magic, size limit, CRC, record count.
/// (Length consistency is checked by [`BatchView::parse`].)
pub fn validate_batch(batch: &BatchView<'_>, max_message_bytes: usize) -> Result<()> {
    if batch.magic() != 2 {
        return Err(StorageError::UnsupportedMagic(batch.magic()));
    }
    // Size before CRC: no point checksumming a batch we will refuse anyway.
    if batch.size() > max_message_bytes {
        return Err(StorageError::BatchTooLarge {
            size: batch.size(),
            max: max_message_bytes,
        });
    }
    if !batch.crc_is_valid() {
        return Err(StorageError::CorruptBatch(format!(
            "CRC32C mismatch: stored {:#010x}, computed {:#010x}",
            batch.crc(),
            batch.compute_crc()
        )));
    }
    let count = batch.record_count();
    if count <= 0 {
        return Err(StorageError::InvalidRecord(format!(
            "record count {count} must be positive"
        )));
    }
    // An uncompressed record takes at least 7 bytes (length, attributes,
    // timestamp delta, offset delta, key length, value length, header count
    // varints), so a larger count is a lie that would make decoders over-allocate.
    let record_bytes = batch.size() - BATCH_HEADER_LEN;
    if batch.compression_codec() == 0 && count as usize > record_bytes / MIN_RECORD_LEN {
        return Err(StorageError::InvalidRecord(format!(
            "record count {count} does not fit in {record_bytes} bytes of records"
        )));
    }
    if batch.last_offset_delta() != count - 1 {
        return Err(StorageError::InvalidRecord(format!(
            "lastOffsetDelta {} does not match record count {count}",
            batch.last_offset_delta()
        )));
    }
    Ok(())
}

/// What the log needs to know about each validated batch of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Start of the batch in the appended buffer.
    pub position: usize,
    pub size: usize,
    pub record_count: i32,
    pub max_timestamp: i64,
}

/// Validates every batch in a produce buffer (all or nothing). The buffer
/// must hold at least one batch and nothing but whole batches.
pub fn validate_batches(buf: &[u8], max_message_bytes: usize) -> Result<Vec<BatchSummary>> {
    if buf.is_empty() {
        return Err(StorageError::InvalidRecord("no record batches".into()));
    }
    let mut summaries = Vec::new();
    let mut position = 0;
    for batch in batches(buf) {
        let batch = batch?;
        validate_batch(&batch, max_message_bytes)?;
        // Producers leave offset assignment to the broker; Kafka refuses a
        // client batch that claims offsets of its own.
        if batch.base_offset() != 0 {
            return Err(StorageError::InvalidRecord(format!(
                "the base offset of a produced record batch must be 0, not {}",
                batch.base_offset()
            )));
        }
        // Markers are the transaction coordinator's (see `Log::append_marker`).
        if batch.is_control() {
            return Err(StorageError::InvalidRecord(
                "clients are not allowed to write control records".into(),
            ));
        }
        // Kafka's LogValidator: an idempotent batch carries a sequence.
        if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
            return Err(StorageError::InvalidRecord(format!(
                "invalid sequence number {} in a record batch of producer id {}",
                batch.base_sequence(),
                batch.producer_id()
            )));
        }
        summaries.push(BatchSummary {
            position,
            size: batch.size(),
            record_count: batch.record_count(),
            max_timestamp: batch.max_timestamp(),
        });
        position += batch.size();
    }
    Ok(summaries)
}
