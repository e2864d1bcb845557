//! Fetch reads that leave the records in the segment files: the same whole
//! batches `read` returns, handed out as file ranges (see `records`) for
//! the broker to send with sendfile.
//!
//! Where `read` reads the bytes and then checks the batches in memory, this
//! walks the batch headers in the file (one 61-byte positional read per
//! batch) and applies the same rules at each: whole batches only, the first
//! batch containing the offset, later ones continuing its offsets, magic 2,
//! the size limit with Kafka's first-batch exception, and damage ending the
//! read after the intact batches before it (or, met first, taking the
//! partition offline). Header reads come from the page cache on the worker
//! thread when they can, from the disk on the blocking pool otherwise;
//! whether the batches' bodies are cached is the sender's question, asked
//! when it sends them.

use crate::batch::HeaderInfo;
use crate::error::{Result, StorageError};
use crate::local::blocking::{has_read_hook, IoClass};
use crate::local::partition::LocalPartitionLog;
use crate::local::read::{damaged, ReadFrom, Snapshot};
use crate::local::scan::NextBatch;
use crate::local::segment::{find_batch_containing, read_header_at, Scanned, SegmentSnapshot};
use crate::records::{FileRange, Records, RecordsRead};

/// What a walk collected.
struct Walked {
    ranges: Vec<FileRange>,
    end_offset: i64,
}

impl LocalPartitionLog {
    /// `PartitionEngine::read_records` for the local engine.
    pub(crate) async fn read_file_ranges(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        below: i64,
    ) -> Result<RecordsRead> {
        if let Some(at_end) = self.read_at_log_end(offset) {
            return at_end.map(|read| RecordsRead {
                records: Records::Files(Vec::new()),
                offsets: read.offsets,
                end_offset: offset,
                aborted_transactions: Vec::new(),
            });
        }
        if has_read_hook(&self.dir) {
            // A hooked read stands for a slow disk or counts reads: it goes
            // the way the hook sees.
            let read =
                crate::engine::PartitionEngine::read(self, offset, max_bytes, min_one).await?;
            return Ok(RecordsRead::from_bytes(offset, read, below));
        }
        if self.is_loaded() {
            match self.ranges(offset, max_bytes, min_one, below, ReadFrom::PageCache) {
                Err(StorageError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
        self.off_runtime(IoClass::Foreground, "fetch read", move |log| {
            log.ranges(offset, max_bytes, min_one, below, ReadFrom::File)
        })
        .await
    }

    fn ranges(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        below: i64,
        from: ReadFrom,
    ) -> Result<RecordsRead> {
        let (offsets, segments, start_position) = match self.read_snapshot(offset, max_bytes)? {
            Snapshot::Empty(offsets) => {
                return Ok(RecordsRead {
                    records: Records::Files(Vec::new()),
                    offsets,
                    end_offset: offset,
                    aborted_transactions: Vec::new(),
                })
            }
            Snapshot::Segments(offsets, segments, start) => (offsets, segments, start),
        };
        let limits = Limits {
            offset,
            max_bytes,
            min_one,
            below,
        };
        let walked = match walk(&segments, start_position, &limits, from) {
            Err(StorageError::CorruptBatch(damage)) => {
                return Err(self.take_offline(format!("{}/{damage}", self.dir.display())))
            }
            other => other?,
        };
        Ok(RecordsRead {
            records: Records::Files(walked.ranges),
            offsets,
            end_offset: walked.end_offset,
            aborted_transactions: Vec::new(),
        })
    }
}

struct Limits {
    offset: i64,
    max_bytes: usize,
    min_one: bool,
    /// Batches whose last offset reaches this are not returned.
    below: i64,
}

/// Why a batch is not served.
enum Verdict {
    Serve,
    /// The read ends before it (a limit).
    Stop,
    /// The read ends before it; met first, the read fails.
    Damaged(String),
}

/// `read_from_segments`' rules, applied to headers read from the files.
fn walk(
    segments: &[SegmentSnapshot],
    start_position: u64,
    limits: &Limits,
    from: ReadFrom,
) -> Result<Walked> {
    let mut walked = Walked {
        ranges: Vec::new(),
        end_offset: limits.offset,
    };
    let mut total = 0usize;
    let mut next = NextBatch::Containing(limits.offset);
    for (index, segment) in segments.iter().enumerate() {
        let file = &from.reader(&segment.file);
        let scan_from = if index == 0 { start_position } else { 0 };
        let (first, header) =
            match find_batch_containing(file, scan_from, segment.size, limits.offset)? {
                Scanned::Batch(position, header) => (position, header),
                Scanned::End => continue,
                Scanned::Damaged { .. } if total > 0 => break,
                Scanned::Damaged { position, why } => return Err(damaged(segment, position, why)),
            };
        let mut position = first;
        let mut header = Some(header);
        let mut ended = false;
        while position < segment.size {
            let batch = match header.take() {
                Some(batch) => batch,
                None => match read_header_at(file, position, segment.size) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(StorageError::CorruptBatch(why)) => {
                        if total == 0 {
                            return Err(damaged(segment, position, why));
                        }
                        ended = true;
                        break;
                    }
                    Err(other) => return Err(other),
                },
            };
            match judge(&batch, total, limits, next) {
                Verdict::Serve => {}
                Verdict::Stop => {
                    ended = true;
                    break;
                }
                Verdict::Damaged(why) if total == 0 => return Err(damaged(segment, position, why)),
                Verdict::Damaged(_) => {
                    ended = true;
                    break;
                }
            }
            total += batch.size;
            position += batch.size as u64;
            next = NextBatch::StartingAt(batch.last_offset.saturating_add(1));
            walked.end_offset = batch.last_offset.saturating_add(1);
            if total >= limits.max_bytes {
                // Full (or the first batch, returned whole past the limit).
                ended = true;
                break;
            }
        }
        if position > first {
            walked.ranges.push(FileRange::new(
                segment.file.clone(),
                first,
                position - first,
            ));
        }
        if ended || position < segment.size || total >= limits.max_bytes {
            break;
        }
    }
    Ok(walked)
}

/// Whether the batch whose header is `batch` is served after `total` bytes.
fn judge(batch: &HeaderInfo, total: usize, limits: &Limits, next: NextBatch) -> Verdict {
    if batch.size > limits.max_bytes.saturating_sub(total) {
        // Kafka's rule: the first batch of the first partition is returned
        // whole even if it exceeds the limit, so consumers always progress.
        if !(total == 0 && limits.min_one) {
            return Verdict::Stop;
        }
    }
    if batch.magic != 2 {
        return Verdict::Damaged(format!("magic {} is not 2", batch.magic));
    }
    let fits = match next {
        NextBatch::Containing(offset) => batch.base_offset <= offset && offset <= batch.last_offset,
        NextBatch::StartingAt(offset) => batch.base_offset == offset && batch.last_offset >= offset,
    };
    if !fits {
        return Verdict::Damaged(format!(
            "batch of offsets {}..={} where {next:?} was due",
            batch.base_offset, batch.last_offset
        ));
    }
    if batch.last_offset >= limits.below {
        return Verdict::Stop;
    }
    Verdict::Serve
}
