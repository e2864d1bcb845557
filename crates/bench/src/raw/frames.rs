//! Request frames written whole and response frames read into one reused
//! buffer, so the client's work per byte is the socket copy and nothing
//! else: a response is handed out as `Bytes` that share that buffer, and
//! kafka-protocol's decoder slices record fields out of it without copying.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// No answer of this workload comes near this; a larger length is a bug.
const MAX_FRAME: usize = 256 << 20;

/// Where the correlation id sits in a frame: after the size (4), the api
/// key (2) and the version (2).
const CORRELATION_AT: usize = 8;

/// A whole request frame (size, header, body) for `body` at `version`.
pub fn request(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &impl Encodable,
) -> anyhow::Result<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fjord-bench-raw")));
    let mut payload = BytesMut::new();
    header.encode(&mut payload, key.request_header_version(version))?;
    body.encode(&mut payload, version)?;
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&i32::try_from(payload.len())?.to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Rewrites a pre-encoded frame's correlation id in place.
pub fn set_correlation_id(frame: &mut [u8], correlation_id: i32) {
    frame[CORRELATION_AT..CORRELATION_AT + 4].copy_from_slice(&correlation_id.to_be_bytes());
}

/// One connection: requests written whole, answers read frame by frame.
pub struct Connection {
    socket: TcpStream,
    buffer: BytesMut,
}

impl Connection {
    pub fn open(bootstrap: &str) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(bootstrap)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
        Ok(Connection {
            socket,
            buffer: BytesMut::new(),
        })
    }

    pub fn send(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        Ok(self.socket.write_all(frame)?)
    }

    /// The next answer, its header checked against `correlation_id` (the
    /// broker answers a connection's requests in order) and taken off.
    pub fn answer(
        &mut self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> anyhow::Result<Bytes> {
        let mut frame = self.frame()?;
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))?;
        anyhow::ensure!(
            header.correlation_id == correlation_id,
            "answer to correlation id {} where {correlation_id} was due",
            header.correlation_id
        );
        Ok(frame)
    }

    /// The next frame without its size. The buffer is reused: once the
    /// previous frame's `Bytes` are dropped, `reserve` takes the whole
    /// allocation back instead of allocating (and faulting in) a new one.
    fn frame(&mut self) -> anyhow::Result<Bytes> {
        let mut size = [0u8; 4];
        self.socket.read_exact(&mut size)?;
        let len = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|len| *len <= MAX_FRAME)
            .ok_or_else(|| {
                anyhow::anyhow!("frame size {} out of range", i32::from_be_bytes(size))
            })?;
        self.buffer.clear();
        self.buffer.reserve(len);
        while self.buffer.len() < len {
            let missing = len - self.buffer.len();
            let spare = self.buffer.spare_capacity_mut();
            let want = missing.min(spare.len());
            // SAFETY: read(2) writes at most `want` bytes into the spare
            // capacity, which has room for them; only the bytes it reports
            // written are then counted as initialised. (std's Read wants
            // an initialised slice, which would mean zeroing every frame.)
            let n = unsafe {
                libc::read(
                    self.socket.as_raw_fd(),
                    spare.as_mut_ptr().cast::<libc::c_void>(),
                    want,
                )
            };
            if n < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error.into());
            }
            anyhow::ensure!(n > 0, "the broker closed the connection mid-frame");
            // SAFETY: the kernel initialised these `n` bytes just now.
            unsafe { self.buffer.set_len(self.buffer.len() + n as usize) };
        }
        Ok(self.buffer.split().freeze())
    }
}
