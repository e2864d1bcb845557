//! Reads that only take what the page cache already holds.
//!
//! A Fetch read hands off to the blocking pool so that a cold read cannot
//! stall the worker threads; but most reads (a consumer following the
//! tail, a backlog just written) find every byte in the page cache, and for
//! them the hand-off was the whole cost: two thread wake-ups per fetch,
//! more broker CPU, and the end-to-end latency's tail. So a read is first
//! tried on the worker thread with `preadv2(RWF_NOWAIT)`, which copies from
//! the page cache and fails with EAGAIN instead of waiting for the disk;
//! only then does it go to the blocking pool.

use std::fs::File;
use std::io::{Error, ErrorKind, IoSliceMut};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::{preadv2, Errno, ReadWriteFlags};

use crate::local::segment::ReadAt;

/// Set once the kernel or file system refused RWF_NOWAIT (before Linux
/// 4.14, or a file system without it): every read then goes to the pool.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// A file read through the page cache only: any byte not cached makes the
/// read fail with [`ErrorKind::WouldBlock`], as does a kernel without
/// RWF_NOWAIT.
pub(crate) struct CachedOnly<'a>(pub(crate) &'a File);

impl ReadAt for CachedOnly<'_> {
    fn read_exact_at(&self, mut buf: &mut [u8], mut position: u64) -> std::io::Result<()> {
        while !buf.is_empty() {
            if UNSUPPORTED.load(Ordering::Relaxed) {
                return Err(would_block());
            }
            let read = preadv2(
                self.0,
                &mut [IoSliceMut::new(buf)],
                position,
                ReadWriteFlags::NOWAIT,
            );
            match read {
                Ok(0) => return Err(Error::from(ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    buf = &mut buf[n..];
                    position += n as u64;
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Err(would_block()),
                Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => {
                    UNSUPPORTED.store(true, Ordering::Relaxed);
                    return Err(would_block());
                }
                Err(other) => return Err(Error::from(other)),
            }
        }
        Ok(())
    }
}

fn would_block() -> Error {
    Error::from(ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_cached_bytes_and_refuses_past_the_end() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(b"0123456789").expect("write");
        let mut buf = [0u8; 4];
        // Just written, so cached (or, on a kernel without RWF_NOWAIT, refused).
        match CachedOnly(&file).read_exact_at(&mut buf, 3) {
            Ok(()) => assert_eq!(&buf, b"3456"),
            Err(err) => assert_eq!(err.kind(), ErrorKind::WouldBlock),
        }
        let err = CachedOnly(&file)
            .read_exact_at(&mut buf, 8)
            .expect_err("only two bytes left");
        assert!(matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::WouldBlock
        ));
    }
}
