//! A walk over the headers of every batch in a local log, for the `Log` to
//! rebuild its producer state at load. Only headers are read (61 bytes a
//! batch), one segment open at a time.

use tracing::warn;

use crate::batch::HeaderInfo;
use crate::error::{Result, StorageError};
use crate::local::partition::LocalPartitionLog;
use crate::local::segment::read_header_at;

impl LocalPartitionLog {
    /// Calls `visit` with each batch header whose last offset is at least
    /// `from`, in offset order. Blocking: run it off the async workers.
    pub(crate) fn visit_headers(
        &self,
        from: i64,
        visit: &mut dyn FnMut(&HeaderInfo),
    ) -> Result<()> {
        let bases: Vec<i64> = {
            let state = self.state.lock();
            state.check_usable()?;
            let first = state
                .segments
                .range(..=from)
                .next_back()
                .map_or(i64::MIN, |(base, _)| *base);
            state
                .segments
                .range(first..)
                .map(|(base, _)| *base)
                .collect()
        };
        for base in bases {
            let (segment, mut position) = {
                let state = self.state.lock();
                match state.segments.get(&base) {
                    Some(segment) => (segment.snapshot()?, segment.position_for_offset(from)),
                    // Deleted by retention meanwhile: nothing to rebuild from.
                    None => continue,
                }
            };
            loop {
                match read_header_at(&*segment.file, position, segment.size) {
                    Ok(Some(header)) => {
                        if header.last_offset >= from {
                            visit(&header);
                        }
                        position += header.size as u64;
                    }
                    Ok(None) => break,
                    Err(StorageError::CorruptBatch(why)) => {
                        // Reads stop there too (see `scan`); the producers
                        // of the batches beyond are not known.
                        warn!(
                            topic = %self.topic,
                            partition = self.partition,
                            segment = base,
                            position,
                            %why,
                            "damaged batch header met while rebuilding producer state"
                        );
                        break;
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(())
    }
}
