//! ListOffsets by timestamp: the time index narrows the scan, batch headers
//! find the batch, and only that one batch is decoded to find the record.

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::decompress::{decompress, DecompressError, MAX_DECOMPRESSED_BATCH};

use crate::batch::{HeaderInfo, RECORD_COUNT_OFFSET};
use crate::error::{Result, StorageError};
use crate::local::partition::LocalPartitionLog;
use crate::local::segment::{read_header_at, ReadAt, SegmentSnapshot};
use crate::TimestampOffset;

/// The decoder reserves memory per record count before decoding, so refuse
/// to decode batches claiming more records than this; for those the batch's
/// own first offset and max timestamp are returned (an approximation).
const MAX_DECODED_RECORDS: i32 = 100_000;

impl LocalPartitionLog {
    pub(crate) fn find_offset_for_timestamp(&self, target: i64) -> Result<Option<TimestampOffset>> {
        let candidates: Vec<i64> = {
            let state = self.state.lock();
            state.check_usable()?;
            state
                .segments
                .values()
                .filter(|s| !s.is_empty() && s.max_timestamp >= target)
                .map(|s| s.base_offset)
                .collect()
        };
        // One segment open at a time: the first candidate usually answers.
        for base in candidates {
            let (log_start, segment, position) = {
                let state = self.state.lock();
                let Some(segment) = state.segments.get(&base) else {
                    // Deleted meanwhile: its records are below the log start now.
                    continue;
                };
                (
                    state.log_start_offset,
                    segment.snapshot()?,
                    segment.position_for_timestamp(target),
                )
            };
            if let Some(found) = search_segment(&segment, position, target, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp, the earliest one on ties.
    pub(crate) fn find_max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        let (log_start, candidate) = {
            let state = self.state.lock();
            state.check_usable()?;
            let mut best: Option<&crate::local::segment::Segment> = None;
            for segment in state.segments.values().filter(|s| !s.is_empty()) {
                // Strictly greater keeps the earliest segment on ties.
                if best.is_none_or(|b| segment.max_timestamp > b.max_timestamp) {
                    best = Some(segment);
                }
            }
            let candidate = best
                .map(|s| -> Result<_> {
                    Ok((
                        s.snapshot()?,
                        s.position_for_timestamp(s.max_timestamp),
                        s.max_timestamp,
                    ))
                })
                .transpose()?;
            (state.log_start_offset, candidate)
        };
        match candidate {
            Some((segment, position, max_timestamp)) => {
                search_segment(&segment, position, max_timestamp, log_start)
            }
            None => Ok(None),
        }
    }
}

/// Scans the segment from `position` for the first record at or above
/// `log_start` with timestamp >= `target`.
fn search_segment(
    segment: &SegmentSnapshot,
    mut position: u64,
    target: i64,
    log_start: i64,
) -> Result<Option<TimestampOffset>> {
    while let Some(header) = read_header_at(&segment.file, position, segment.size)? {
        if header.last_offset >= log_start && header.max_timestamp >= target {
            if let Some(found) = search_batch(segment, position, &header, target, log_start)? {
                return Ok(Some(found));
            }
        }
        position += header.size as u64;
    }
    Ok(None)
}

fn search_batch(
    segment: &SegmentSnapshot,
    position: u64,
    header: &HeaderInfo,
    target: i64,
    log_start: i64,
) -> Result<Option<TimestampOffset>> {
    let batch_level = TimestampOffset {
        timestamp: header.max_timestamp,
        offset: header.base_offset.max(log_start),
        leader_epoch: header.partition_leader_epoch,
    };
    // LogAppendTime: every record carries the batch's max timestamp.
    if header.log_append_time {
        return Ok(Some(batch_level));
    }
    let mut bytes = vec![0u8; header.size];
    ReadAt::read_exact_at(&*segment.file, &mut bytes, position).map_err(StorageError::Io)?;
    let record_count = i32::from_be_bytes([
        bytes[RECORD_COUNT_OFFSET],
        bytes[RECORD_COUNT_OFFSET + 1],
        bytes[RECORD_COUNT_OFFSET + 2],
        bytes[RECORD_COUNT_OFFSET + 3],
    ]);
    if record_count > MAX_DECODED_RECORDS {
        return Ok(Some(batch_level));
    }
    let mut buf = Bytes::from(bytes);
    let bounded = |records: &mut Bytes, codec: Compression| -> anyhow::Result<Bytes> {
        Ok(decompress(codec, records, MAX_DECOMPRESSED_BATCH)?)
    };
    let record_set =
        match RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(bounded)) {
            Ok(records) => records,
            // A batch that expands beyond the cap was not sent by a real
            // producer; answering with its first offset keeps the lookup's
            // promise (no record at or after the target is skipped).
            Err(e) if e.downcast_ref::<DecompressError>().is_some() => {
                return Ok(Some(batch_level))
            }
            Err(e) => {
                return Err(StorageError::CorruptBatch(format!(
                    "cannot decode stored batch at offset {}: {e}",
                    header.base_offset
                )))
            }
        };
    Ok(record_set
        .records
        .iter()
        .find(|r| r.offset >= log_start && r.timestamp >= target)
        .map(|r| TimestampOffset {
            timestamp: r.timestamp,
            offset: r.offset,
            leader_epoch: header.partition_leader_epoch,
        }))
}
