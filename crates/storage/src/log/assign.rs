//! Offset assignment: the only change the broker makes to produced batches
//! is in their headers (Kafka's LogValidator does the same for magic-v2
//! batches it does not need to recompress). The headers are patched in
//! copies; the produced bytes are never copied.

use bytes::Bytes;

use crate::batch::{BatchView, PatchedHeader};
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
/// stamps their headers.
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
    let mut patched = Vec::with_capacity(summaries.len());
    let mut headers = Vec::with_capacity(summaries.len());
    let mut next_offset = base_offset;
    for summary in summaries {
        let batch = BatchView::parse(&batches[summary.position..summary.position + summary.size])?;
        let mut header = PatchedHeader::of(&batch);
        header.set_base_offset(next_offset);
        header.set_partition_leader_epoch(stamp.partition_leader_epoch);
        if let Some(now) = stamp.log_append_time {
            header.set_log_append_time(now);
        }
        headers.push(header.info()?);
        patched.push(header);
        // Cannot overflow: checked against last_offset above.
        next_offset += i64::from(summary.record_count);
    }
    Ok(AssignedBatches {
        produced: batches,
        patched,
        headers,
        base_offset,
        last_offset,
        aborted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{batches as batch_views, BATCH_HEADER_LEN};
    use crate::log::validate::{validate_batch, validate_batches};
    use fjord_testkit::batches::{batch, ALL_COMPRESSIONS};

    #[test]
    fn batches_are_stored_patched_without_copying_the_request() {
        for log_append_time in [None, Some(1_800_000_000_000)] {
            // A request frame: something before the records, three batches.
            let mut frame = b"request header".to_vec();
            for compression in ALL_COMPRESSIONS.into_iter().take(3) {
                frame.extend_from_slice(&batch(3, compression));
            }
            let frame = Bytes::from(frame);
            let records = frame.slice(14..);
            let summaries = validate_batches(&records, 1 << 20).unwrap();
            let stamp = Stamp {
                partition_leader_epoch: 9,
                log_append_time,
            };
            let assigned = assign_offsets(records.clone(), &summaries, 100, stamp).unwrap();
            // Still the request's bytes, untouched.
            assert_eq!(assigned.produced.as_ptr(), frame[14..].as_ptr());
            assert_eq!(assigned.produced, records);
            let stored = assigned.to_vec();
            assert_eq!(stored.len(), records.len());
            assert_eq!((assigned.base_offset, assigned.last_offset), (100, 108));
            let views: Vec<_> = batch_views(&stored).map(Result::unwrap).collect();
            assert_eq!(views.len(), 3);
            for (i, view) in views.iter().enumerate() {
                validate_batch(view, 1 << 20).unwrap();
                assert_eq!(view.base_offset(), 100 + 3 * i as i64);
                assert_eq!(view.partition_leader_epoch(), 9);
                assert_eq!(view.is_log_append_time(), log_append_time.is_some());
                if let Some(now) = log_append_time {
                    assert_eq!(view.max_timestamp(), now);
                }
                assert_eq!(assigned.headers[i], view.header_info());
                // Past the header, byte for byte as produced.
                let at = summaries[i].position;
                assert_eq!(
                    &view.as_bytes()[BATCH_HEADER_LEN..],
                    &records[at + BATCH_HEADER_LEN..at + summaries[i].size]
                );
            }
        }
    }
}
