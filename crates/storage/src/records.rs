//! Records as a read hands them out: bytes in memory, or runs of whole
//! batches left in their segment files for the caller to copy to where they
//! go (a socket, with sendfile) without reading them into memory first.
//!
//! A [`FileRange`] holds the segment's open file, so its bytes stay readable
//! after retention, DeleteRecords or a topic deletion unlinks the file (the
//! inode lives until the last descriptor is closed), and segment files only
//! grow at their end while they are served: a range taken once stays whole
//! batches. Nothing here knows more of the wire format than the batch header
//! the engine walked to cut the ranges at batch boundaries.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::batches;
use crate::error::StorageError;
use crate::local::blocking::{run_blocking, IoClass};
use crate::local::cached_read::CachedOnly;
use crate::local::file_cache::OpenFile;
use crate::local::segment::ReadAt;
use crate::{AbortedTxn, LogOffsets, ReadOutcome};

/// Whole record batches, laid end to end in one segment file.
#[derive(Clone)]
pub struct FileRange {
    file: Arc<OpenFile>,
    position: u64,
    len: u64,
}

impl std::fmt::Debug for FileRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRange")
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}

impl FileRange {
    pub(crate) fn new(file: Arc<OpenFile>, position: u64, len: u64) -> FileRange {
        FileRange {
            file,
            position,
            len,
        }
    }

    /// The segment file (for sendfile and cache probes); read it only
    /// within `position..position + len`.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the first batch starts in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `buf` with the range's bytes from `from` (relative to the
    /// range's start). With `cached_only`, only from the page cache: a byte
    /// that would have to come from the disk fails the read with
    /// `WouldBlock` (so it can be done on an async worker thread).
    pub fn read_at(&self, buf: &mut [u8], from: u64, cached_only: bool) -> io::Result<()> {
        let end = from.saturating_add(buf.len() as u64);
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "read of {from}..{end} outside a range of {} bytes",
                    self.len
                ),
            ));
        }
        let position = self.position + from;
        if cached_only {
            CachedOnly(&self.file).read_exact_at(buf, position)
        } else {
            self.file.read_exact_at(buf, position)
        }
    }
}

impl FileRange {
    /// Sends up to `len` bytes of the range from `from` (relative to its
    /// start) to `out` with sendfile(2): the kernel copies from the page
    /// cache to the socket without the bytes passing through user space.
    /// Returns how many were sent: fewer when `out` is a non-blocking socket
    /// whose buffer filled (`WouldBlock` when it was full), and 0 only if
    /// the file ended first. Reads the file synchronously: ask
    /// [`FileRange::cached`] first on an async worker thread.
    pub fn send_to(&self, out: BorrowedFd<'_>, from: u64, len: usize) -> io::Result<usize> {
        let len = len.min(usize::try_from(self.len.saturating_sub(from)).unwrap_or(usize::MAX));
        let mut offset = libc::off_t::try_from(self.position + from)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        loop {
            // SAFETY: both descriptors are open for the call (borrowed), and
            // `offset` is a local the kernel updates.
            let sent =
                unsafe { libc::sendfile(out.as_raw_fd(), self.file.as_raw_fd(), &mut offset, len) };
            if sent >= 0 {
                return Ok(sent as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// `read_at` from the disk on the blocking pool (with the permits of
    /// the reads a client waits for): fills `buf` and hands it back.
    pub async fn read_off_runtime(&self, mut buf: Vec<u8>, from: u64) -> io::Result<Vec<u8>> {
        let range = self.clone();
        run_blocking(IoClass::Foreground, "fetch send read", move || {
            range
                .read_at(&mut buf, from, false)
                .map_err(StorageError::Io)?;
            Ok(buf)
        })
        .await
        .map_err(|err| match err {
            StorageError::Io(err) => err,
            other => io::Error::other(other.to_string()),
        })
    }

    /// Whether every page holding bytes `from..from + len` of the range is
    /// in the page cache, so that reading them (sendfile) cannot wait for
    /// the disk; `None` when the kernel cannot tell (cachestat(2) needs
    /// Linux 6.5). A page evicted between this answer and the read makes
    /// that read wait: a window of microseconds, not a policy.
    pub fn cached(&self, from: u64, len: u64) -> Option<bool> {
        if len == 0 {
            return Some(true);
        }
        page_cache::all_cached(&self.file, self.position + from, len)
    }
}

/// Makes every page-cache probe answer "cannot tell", as on a kernel
/// without cachestat(2), for the rest of the process: tests use it to run
/// the fallback read path on any kernel.
pub fn disable_page_cache_probe() {
    page_cache::disable();
}

/// cachestat(2), through the raw syscall (the libc crate does not name it
/// for every target yet).
mod page_cache {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::LazyLock;

    /// The syscall number, the same on every Linux architecture (new
    /// syscalls share one table since 5.x).
    const SYS_CACHESTAT: libc::c_long = 451;

    /// Set once the kernel refused the call: every probe answers `None`.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

    static PAGE_SIZE: LazyLock<u64> = LazyLock::new(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
    });

    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }

    pub(super) fn disable() {
        UNSUPPORTED.store(true, Ordering::Relaxed);
    }

    pub(super) fn all_cached(file: &File, off: u64, len: u64) -> Option<bool> {
        if UNSUPPORTED.load(Ordering::Relaxed) {
            return None;
        }
        let range = Range { off, len };
        let mut stat = Stat::default();
        // SAFETY: the kernel reads `range` and writes `stat`, both ours and
        // of the layout cachestat(2) defines; the descriptor is open.
        let done = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                file.as_raw_fd(),
                &range as *const Range,
                &mut stat as *mut Stat,
                0 as libc::c_uint,
            )
        };
        if done != 0 {
            let errno = std::io::Error::last_os_error().raw_os_error();
            if matches!(errno, Some(libc::ENOSYS | libc::EPERM)) {
                UNSUPPORTED.store(true, Ordering::Relaxed);
            }
            return None;
        }
        let page = *PAGE_SIZE;
        let pages = (off + len).div_ceil(page) - off / page;
        Some(stat.nr_cache >= pages)
    }
}

/// The records of one read.
#[derive(Debug, Clone)]
pub enum Records {
    /// Read into memory (an engine without files, or a read a test hooks).
    Bytes(Bytes),
    /// Left in the segment files, in order; each range is whole batches.
    Files(Vec<FileRange>),
}

impl Default for Records {
    fn default() -> Self {
        Records::Bytes(Bytes::new())
    }
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(bytes) => bytes.len(),
            Records::Files(ranges) => ranges
                .iter()
                .map(|range| usize::try_from(range.len).unwrap_or(usize::MAX))
                .fold(0, usize::saturating_add),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, read from the files if they are there. Reads from the
    /// disk if need be: call it off the async worker threads (or in tests).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Records::Bytes(bytes) => Ok(bytes.clone()),
            Records::Files(ranges) => {
                let mut out = vec![0u8; self.len()];
                let mut at = 0;
                for range in ranges {
                    let len = range.len as usize;
                    range.read_at(&mut out[at..at + len], 0, false)?;
                    at += len;
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// What [`PartitionLog::read_records`](crate::PartitionLog::read_records)
/// returns: `ReadOutcome` with the records possibly left in files.
#[derive(Debug, Clone, Default)]
pub struct RecordsRead {
    pub records: Records,
    pub offsets: LogOffsets,
    /// The offset after the last batch returned; the offset asked for when
    /// none is.
    pub end_offset: i64,
    /// For a READ_COMMITTED read: the aborted transactions overlapping the
    /// records returned (empty for other reads).
    pub aborted_transactions: Vec<AbortedTxn>,
}

impl RecordsRead {
    /// `read`, its whole batches from `offset` on kept while their last
    /// offset is below `below` (an engine that reads into memory cuts so).
    pub fn from_bytes(offset: i64, read: ReadOutcome, below: i64) -> RecordsRead {
        let mut kept = 0;
        let mut end_offset = offset;
        for batch in batches(&read.records) {
            // Engines return whole batches only; a torn one is not served.
            let Ok(batch) = batch else { break };
            if batch.last_offset() >= below {
                break;
            }
            kept += batch.size();
            end_offset = batch.last_offset() + 1;
        }
        RecordsRead {
            records: Records::Bytes(read.records.slice(..kept)),
            offsets: read.offsets,
            end_offset,
            aborted_transactions: read.aborted_transactions,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd as _;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::local::file_cache::SegmentFile;

    fn range_of(contents: &[u8], position: u64, len: u64) -> (tempfile::TempDir, FileRange) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("00000000000000000000.log");
        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(contents).expect("write");
        let segment = SegmentFile::closed(path);
        let open = segment.open().expect("open");
        (dir, FileRange::new(open, position, len))
    }

    #[test]
    fn sends_and_reads_only_within_the_range() {
        let (_dir, range) = range_of(b"0123456789abcdef", 4, 8);
        // Just written: cached (this kernel has cachestat, or cannot tell).
        assert_ne!(range.cached(0, 8), Some(false));
        assert_eq!(range.cached(3, 0), Some(true));
        let (ours, mut peer) = UnixStream::pair().expect("socket pair");
        let sent = range.send_to(ours.as_fd(), 2, 100).expect("sendfile");
        assert_eq!(sent, 6, "bounded by the range's end");
        drop(ours);
        let mut received = Vec::new();
        peer.read_to_end(&mut received).expect("read");
        assert_eq!(received, b"6789ab");
        let mut buf = [0u8; 3];
        range.read_at(&mut buf, 5, false).expect("read");
        assert_eq!(&buf, b"9ab");
        assert!(range.read_at(&mut buf, 6, false).is_err(), "past the range");
        let records = Records::Files(vec![range.clone(), range]);
        assert_eq!(records.len(), 16);
        assert_eq!(&records.to_bytes().expect("bytes")[..], b"456789ab456789ab");
    }
}
