//! Durability of a local partition: fsync rounds (group-committed), the
//! recovery point after rolls, and the clean close at shutdown.

use crate::error::Result;
use crate::group_commit::run_flush;
use crate::local::blocking::IoClass;
use crate::local::log_start::write_recovery_point;
use crate::local::partition::LocalPartitionLog;
use crate::local::recovery::Shutdown;
use crate::local::state::{recovery_point_due, take_unsynced, Offline, Unsynced};
use crate::local::{io_context, sync_dir};

impl LocalPartitionLog {
    /// Makes everything appended so far durable, and writes out index
    /// entries (clean shutdown).
    pub async fn flush(&self) -> Result<()> {
        if !matches!(self.loaded.get(), Some(Ok(()))) {
            // Never loaded: nothing was written.
            return Ok(());
        }
        let needed = *self.log_end.borrow();
        self.group_commit
            .wait_durable(needed, || self.flush_once())
            .await?;
        self.off_runtime(IoClass::Background, "index write", |log| {
            let mut state = log.state.lock();
            if state.failure.is_some() {
                return Ok(());
            }
            state.active_mut()?.persist_indexes()
        })
        .await
    }

    /// One fsync round: fdatasync every segment written since the last round
    /// (and the directory if files changed) and return the offset covered.
    /// After a roll this fsyncs the closed segments, so the recovery point
    /// moves up to the active segment's base (one small file write per roll).
    pub(crate) async fn flush_once(&self) -> Result<i64> {
        let collected = {
            let mut state = self.state.lock();
            state.check_usable()?;
            let covered = state.next_offset();
            recovery_point_due(&state).and_then(|recovery_point| {
                take_unsynced(&mut state).map(|pending| (covered, pending, recovery_point))
            })
        };
        let (covered, pending, recovery_point) = match collected {
            Ok(collected) => collected,
            Err(err) => {
                self.mark_failed(format!("flush failed: {err}"));
                return Err(err);
            }
        };
        match self.sync(pending, recovery_point).await {
            Ok(()) => Ok(covered),
            Err(err) => {
                self.mark_failed(format!("fsync failed: {err}"));
                Err(err)
            }
        }
    }

    /// fsyncs the closed segments once a roll has left them behind the
    /// recovery point, as Kafka flushes a segment when it rolls: without
    /// acks=all writers the recovery point would otherwise stay put and a
    /// crash would scan every segment written since.
    pub(crate) async fn flush_after_roll(&self) -> Result<()> {
        if !self.is_loaded() {
            return Ok(());
        }
        let rolled = {
            let state = self.state.lock();
            state.failure.is_none() && state.active()?.base_offset > state.recovery_point
        };
        if rolled {
            self.flush().await?;
        }
        Ok(())
    }

    /// Clean shutdown of this log: it takes no more requests and everything
    /// is fsynced, index entries included. `false`
    /// if the log was offline, or not recovered since an unclean shutdown:
    /// then the shutdown is not clean for it.
    pub(crate) async fn close(&self) -> Result<bool> {
        match self.loaded.get() {
            // Never loaded since start-up: its files are as the last
            // shutdown left them, which vouches for them only if it was clean.
            None => return Ok(self.last_shutdown == Shutdown::Clean),
            Some(Err(_)) => return Ok(false),
            Some(Ok(())) => {}
        }
        let pending = {
            let mut state = self.state.lock();
            if state.failure.is_some() {
                return Ok(false);
            }
            state.failure = Some(Offline::Failed("closed at shutdown".to_string()));
            for segment in state.segments.values_mut() {
                segment.persist_indexes()?;
            }
            take_unsynced(&mut state)?
        };
        // The recovery point is left to the flushes after rolls: a file write
        // per partition here would cost descriptors and fsyncs when shutting
        // down many partitions at once, and buys little (the active segment
        // is scanned after a crash anyway).
        self.sync(pending, None).await?;
        Ok(true)
    }

    /// fsyncs `pending`, then persists `recovery_point` (if given).
    async fn sync(&self, pending: Unsynced, recovery_point: Option<i64>) -> Result<()> {
        let dir = self.dir.clone();
        run_flush(move || -> Result<()> {
            for (file, path) in pending.files {
                file.sync_data()
                    .map_err(|e| io_context("fdatasync", &path, e))?;
            }
            if pending.sync_directory {
                sync_dir(&dir)?;
            }
            if let Some(offset) = recovery_point {
                write_recovery_point(&dir, offset)?;
            }
            Ok(())
        })
        .await?;
        if let Some(offset) = recovery_point {
            let mut state = self.state.lock();
            state.recovery_point = state.recovery_point.max(offset);
        }
        Ok(())
    }
}
