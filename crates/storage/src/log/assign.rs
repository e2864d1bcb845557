//! Offset assignment: the only change the broker makes to produced batches
//! is in their headers, patched in place (Kafka's LogValidator does the same
//! for magic-v2 batches it does not need to recompress).

use bytes::{Bytes, BytesMut};

use crate::batch::BatchHeaderMut;
use crate::engine::AssignedBatches;
use crate::error::{Result, StorageError};
use crate::log::validate::BatchSummary;

/// What the log stamps into each batch besides its offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub partition_leader_epoch: i32,
    /// For LogAppendTime topics: the broker time to stamp as max timestamp.
    pub log_append_time: Option<i64>,
}

/// Gives the validated `batches` consecutive offsets from `base_offset` and
/// stamps their headers. Copies the bytes at most once (not at all when the
/// caller hands over the only reference).
pub(crate) fn assign_offsets(
    batches: Bytes,
    summaries: &[BatchSummary],
    base_offset: i64,
    stamp: Stamp,
) -> Result<AssignedBatches> {
    // Only a damaged or hand-made data dir starts a log this close to
    // i64::MAX (found by fuzzing); refuse rather than wrap around.
    let records: i64 = summaries.iter().map(|s| i64::from(s.record_count)).sum();
    let last_offset = base_offset.checked_add(records).ok_or_else(|| {
        StorageError::Io(std::io::Error::other(format!(
            "offsets past {} cannot be assigned",
            i64::MAX
        )))
    })? - 1;
    let mut buf = batches
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    let mut headers = Vec::with_capacity(summaries.len());
    let mut next_offset = base_offset;
    for summary in summaries {
        let mut header =
            BatchHeaderMut::new(&mut buf[summary.position..summary.position + summary.size])?;
        header.set_base_offset(next_offset);
        header.set_partition_leader_epoch(stamp.partition_leader_epoch);
        if let Some(now) = stamp.log_append_time {
            header.set_log_append_time(now);
        }
        headers.push(header.view().header_info());
        // Cannot overflow: checked against last_offset above.
        next_offset += i64::from(summary.record_count);
    }
    Ok(AssignedBatches {
        bytes: buf.freeze(),
        headers,
        base_offset,
        last_offset,
    })
}
