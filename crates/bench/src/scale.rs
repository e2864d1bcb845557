//! Workload 7: many partitions and many idle connections.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::client::{self, ProducerSettings};

/// Opens `count` connections that each complete one ApiVersions exchange and
/// then stay idle.
pub fn idle_connections(bootstrap: &str, count: usize) -> anyhow::Result<Vec<TcpStream>> {
    // ApiVersions v0: key 18, version 0, correlation id 1, null client id.
    let mut request = Vec::new();
    request.extend_from_slice(&10i32.to_be_bytes());
    request.extend_from_slice(&18i16.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes());
    request.extend_from_slice(&1i32.to_be_bytes());
    request.extend_from_slice(&(-1i16).to_be_bytes());
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let mut socket = TcpStream::connect(bootstrap)?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        socket.write_all(&request)?;
        let mut length = [0u8; 4];
        socket.read_exact(&mut length)?;
        let mut body = vec![0u8; i32::from_be_bytes(length).clamp(0, 1 << 20) as usize];
        socket.read_exact(&mut body)?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// Creates a topic with `partitions` partitions and one record in each;
/// returns the value bytes written.
pub fn populate(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<u64> {
    client::create_topic(bootstrap, topic, partitions)?;
    let settings = ProducerSettings {
        idempotence: false,
        acks: "1",
        linger_ms: 5,
        batch_bytes: 1 << 20,
        compression: "none",
        record_latency: false,
    };
    let producer = client::producer(bootstrap, &settings)?;
    for p in 0..partitions {
        client::send(&producer, topic, p, b"k", &[b'v'; 100])?;
    }
    client::drain(&producer)?;
    Ok(partitions as u64 * 100)
}

/// Lets this process hold many sockets (the soft limit is often 1024).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a stack value we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The soft open-file limit (which the broker started by the bench inherits).
pub fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        0
    }
}
