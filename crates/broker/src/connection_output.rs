//! Answers made and not yet written, and their writing.
//!
//! Answers are encoded into one buffer, except the record bytes of Fetch
//! answers that the log left in its segment files (zero-copy fetch): each
//! partition's records are a hole at a position of the buffer, filled when
//! the buffer is written. Holes are written in place, so the answers go out
//! byte for byte as if the records had been encoded with them, in order.
//!
//! On a plaintext TCP socket a hole's bytes go from the file to the socket
//! with sendfile(2), never through user space: the kernel hands the page
//! cache's pages to TCP. sendfile reads the file synchronously, and a read
//! that waits for the disk must not stall an async worker thread, so each
//! window of a range is first probed with cachestat(2): cached windows are
//! sent from the worker thread, the others are read into a buffer on the
//! blocking pool and written from there. On any other stream (TLS, test
//! streams), or where the kernel cannot say what is cached, the bytes are
//! read into one buffer the connection reuses, at most `COPY_WINDOW` at a
//! time, from the page cache on the worker thread (RWF_NOWAIT) or from the
//! disk on the blocking pool, and written (through the TLS stream, which
//! encrypts them).
//!
//! An answer whose records in files are small (`COPIED_RECORDS_LIMIT`) and
//! cached is instead copied whole into that buffer and written at once: for
//! a few KiB, sendfile's extra system calls cost more than the copy.
//!
//! Non-blocking writes: sendfile on the socket returns what the socket
//! buffer took (partial sends) or EAGAIN, which clears tokio's write
//! readiness so the next attempt waits for the socket to drain; the idle
//! limit and a shutdown apply to each wait, as to every other write.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fjord_storage::FileRange;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, Interest};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::frames::release_if_large;
use super::{unless_idle, ConnectionError};

/// The most of a range sent with one probe and one sendfile.
const SEND_WINDOW: u64 = 1 << 20;
/// Answers whose records in files come to at most this many bytes are
/// copied whole into the reused buffer and written with one write when the
/// page cache holds them: a sendfile answer costs two TCP_CORK changes, a
/// cache probe, a sendfile and a write for each side of every hole, which
/// for the few KiB a consumer at the head of a log fetches cost more than
/// the copy (end-to-end at 10 MB/s spent a tenth more broker CPU with them).
const DEFAULT_COPIED_RECORDS_LIMIT: usize = 16 * 1024;
static COPIED_RECORDS_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_COPIED_RECORDS_LIMIT);

/// Sets the most record bytes from files that an answer may carry and still
/// be copied into memory rather than sent from the files, for this whole
/// process: tests set 0 to send every answer's records with sendfile, or
/// `usize::MAX` to copy every one.
#[doc(hidden)]
pub fn set_copied_records_limit(bytes: usize) {
    COPIED_RECORDS_LIMIT.store(bytes, Ordering::Relaxed);
}

/// The most of a range read into the reused buffer at once when the page
/// cache holds it (what that buffer keeps between answers).
const COPY_WINDOW: u64 = 64 * 1024;

/// A stream a connection is served over.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket itself, when what is written to it reaches the client
    /// as written (plaintext): record bytes are then sent with sendfile.
    fn plaintext_tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl Transport for TcpStream {
    fn plaintext_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

/// In-memory streams (tests): record bytes are copied.
impl Transport for DuplexStream {}

/// TLS over an in-memory stream (tests of what TLS changes in writing).
#[cfg(test)]
impl Transport for tokio_rustls::server::TlsStream<DuplexStream> {}

/// What stands for records left in files inside an encoded response: an
/// empty slice at an address nothing else can have (inside this static),
/// recognised by the encoder when the codec writes it.
static PLACEHOLDER: [u8; 3] = [0; 3];

/// The `records` of a response partition whose bytes are the next entry of
/// the file records handed with the response.
pub fn records_placeholder() -> Bytes {
    Bytes::from_static(&PLACEHOLDER[1..1])
}

/// Whether `slice` is the records placeholder.
pub fn is_placeholder(slice: &[u8]) -> bool {
    slice.is_empty() && std::ptr::eq(slice.as_ptr(), PLACEHOLDER[1..].as_ptr())
}

/// Records of one partition left in files: where in the buffer they go.
struct Hole {
    at: usize,
    ranges: Vec<FileRange>,
}

/// The answers gathered for writing.
#[derive(Default)]
pub(super) struct Output {
    pub(super) bytes: BytesMut,
    holes: Vec<Hole>,
    file_bytes: usize,
    /// Reused for record bytes that are copied instead of sent from the file.
    copy: Vec<u8>,
}

impl Output {
    /// Bytes waiting to be written, the files' included.
    pub(super) fn pending(&self) -> usize {
        self.bytes.len() + self.file_bytes
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// The records in `ranges` go at `at` in the buffer (where they are
    /// due now that the encoder wrote what precedes them).
    pub(super) fn add_hole(&mut self, at: usize, ranges: Vec<FileRange>) {
        let len: u64 = ranges.iter().map(FileRange::len).sum();
        self.file_bytes += usize::try_from(len).unwrap_or(usize::MAX);
        self.holes.push(Hole { at, ranges });
    }

    /// Drops the holes at or past `at` (an answer being encoded failed).
    pub(super) fn truncate(&mut self, at: usize) {
        self.bytes.truncate(at);
        while self.holes.last().is_some_and(|hole| hole.at >= at) {
            if let Some(hole) = self.holes.pop() {
                let len: u64 = hole.ranges.iter().map(FileRange::len).sum();
                self.file_bytes -= usize::try_from(len).unwrap_or(usize::MAX);
            }
        }
    }

    /// Writes every gathered answer and empties the output; false when the
    /// client or the broker closed first.
    pub(super) async fn write_to<S: Transport>(
        &mut self,
        socket: &mut S,
        max_idle: Option<Duration>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, ConnectionError> {
        let holes = std::mem::take(&mut self.holes);
        let file_bytes = std::mem::take(&mut self.file_bytes);
        if !holes.is_empty()
            && file_bytes <= COPIED_RECORDS_LIMIT.load(Ordering::Relaxed)
            && self.bytes.len().saturating_add(file_bytes) <= COPY_WINDOW as usize
            && self.copy_whole(&holes)?
        {
            let copied = std::mem::take(&mut self.copy);
            let done = write_bytes(socket, &copied, max_idle, shutdown).await;
            self.copy = copied;
            if !done? {
                return Ok(false);
            }
            return self.finish(socket, max_idle, shutdown).await;
        }
        let _cork = match socket.plaintext_tcp() {
            Some(tcp) if !holes.is_empty() => Cork::new(tcp),
            _ => None,
        };
        let mut written = 0;
        for hole in holes {
            let before = &self.bytes[written..hole.at];
            if !write_bytes(socket, before, max_idle, shutdown).await? {
                return Ok(false);
            }
            written = hole.at;
            for range in &hole.ranges {
                if !send_range(socket, range, &mut self.copy, max_idle, shutdown).await? {
                    return Ok(false);
                }
            }
        }
        let rest = &self.bytes[written..];
        if !write_bytes(socket, rest, max_idle, shutdown).await? {
            return Ok(false);
        }
        self.finish(socket, max_idle, shutdown).await
    }

    /// Copies the buffer with every hole filled into `copy`, if the page
    /// cache holds all of the holes' bytes (false, and `copy` is left to be
    /// reused, when some would come from the disk).
    fn copy_whole(&mut self, holes: &[Hole]) -> io::Result<bool> {
        self.copy.clear();
        let mut written = 0;
        for hole in holes {
            self.copy.extend_from_slice(&self.bytes[written..hole.at]);
            written = hole.at;
            for range in &hole.ranges {
                let start = self.copy.len();
                let len = usize::try_from(range.len()).unwrap_or(usize::MAX);
                self.copy.resize(start.saturating_add(len), 0);
                match range.read_at(&mut self.copy[start..], 0, true) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(err) => return Err(err),
                }
            }
        }
        self.copy.extend_from_slice(&self.bytes[written..]);
        Ok(true)
    }

    /// Flushes what was written and lets go of buffers grown for it.
    async fn finish<S: Transport>(
        &mut self,
        socket: &mut S,
        max_idle: Option<Duration>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, ConnectionError> {
        // A TLS stream keeps the records a full socket did not take until
        // it is written to or flushed again: without this the end of an
        // answer waited for the client's next request.
        if unless_idle(socket.flush(), max_idle, shutdown)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        release_if_large(&mut self.bytes);
        if self.copy.capacity() > COPY_WINDOW as usize {
            self.copy = Vec::new();
        }
        Ok(true)
    }
}

/// TCP_CORK on a plaintext socket while answers with records are written,
/// taken off (which sends what it held) when dropped. The socket has
/// TCP_NODELAY, so without it each write went out at once: a partition's
/// framing before its records, and the end of the answer after them, each
/// a small segment of its own (one more packet to send and deliver, and
/// one more ACK, per partition); corked, they share the records' segments.
/// Full segments are not held, so a cork only ever delays a partial one
/// until the next write of the same answers or the uncork.
/// Holds the descriptor, not the stream: the writes need the stream, and
/// the guard lives inside `write_to`, which holds the stream borrowed.
struct Cork(RawFd);

impl Cork {
    fn new(tcp: &TcpStream) -> Option<Cork> {
        let fd = tcp.as_raw_fd();
        set_cork(fd, true).then_some(Cork(fd))
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        // Failing, the socket is broken: the connection's next write says so.
        set_cork(self.0, false);
    }
}

fn set_cork(fd: RawFd, on: bool) -> bool {
    let value = libc::c_int::from(on);
    // SAFETY: the descriptor is the connection's socket, open while its
    // stream is (see `Cork`), and the option value is a c_int of the size given.
    let done = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    done == 0
}

async fn write_bytes<S: Transport>(
    socket: &mut S,
    mut bytes: &[u8],
    max_idle: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, ConnectionError> {
    while !bytes.is_empty() {
        match unless_idle(socket.write(bytes), max_idle, shutdown).await? {
            Some(0) | None => return Ok(false),
            Some(n) => bytes = &bytes[n..],
        }
    }
    Ok(true)
}

/// Writes all of `range`: with sendfile where the socket allows and the
/// pages are cached, through `copy` otherwise.
async fn send_range<S: Transport>(
    socket: &mut S,
    range: &FileRange,
    copy: &mut Vec<u8>,
    max_idle: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, ConnectionError> {
    let mut sent = 0u64;
    while sent < range.len() {
        let window = (range.len() - sent).min(SEND_WINDOW);
        let cached = range.cached(sent, window);
        if let (Some(tcp), Some(true)) = (socket.plaintext_tcp(), cached) {
            let n =
                match unless_idle(send_file(tcp, range, sent, window), max_idle, shutdown).await? {
                    Some(n) => n,
                    None => return Ok(false),
                };
            sent += n as u64;
            continue;
        }
        // Known to be cold: read the whole window on the blocking pool.
        // Unknown: what the page cache holds, from the worker thread.
        let cold = cached == Some(false);
        // Over TLS every byte takes this path: chunks no larger than the
        // buffer kept between answers, so no answer allocates afresh.
        let chunk = if cold && socket.plaintext_tcp().is_some() {
            window
        } else {
            window.min(COPY_WINDOW)
        } as usize;
        copy.resize(chunk, 0);
        let read = if cold {
            Err(io::Error::from(io::ErrorKind::WouldBlock))
        } else {
            range.read_at(&mut copy[..chunk], sent, true)
        };
        match read {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                *copy = range.read_off_runtime(std::mem::take(copy), sent).await?;
            }
            Err(err) => return Err(err.into()),
        }
        if !write_bytes(socket, &copy[..chunk], max_idle, shutdown).await? {
            return Ok(false);
        }
        sent += chunk as u64;
    }
    Ok(true)
}

/// One sendfile of up to `len` bytes from `from`, once the socket takes
/// some: how many it took.
async fn send_file(tcp: &TcpStream, range: &FileRange, from: u64, len: u64) -> io::Result<usize> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    loop {
        tcp.writable().await?;
        let sent = tcp.try_io(Interest::WRITABLE, || range.send_to(tcp.as_fd(), from, len));
        match sent {
            // The segment file never shrinks under a range handed out; if
            // it did, the frame cannot be completed: the connection closes
            // rather than send torn records.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended inside the records being sent",
                ))
            }
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}
