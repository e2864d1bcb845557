//! The machine's own limits, measured in the same run: loopback TCP and
//! sequential write + fdatasync in the data dir. Broker figures are printed
//! as ratios to these, since absolute figures drift on shared machines.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::stats::mb_per_s;

const CHUNK: usize = 1 << 20;

/// One writer and one reader over loopback with 1 MiB writes; MB/s.
pub fn loopback_tcp(duration: Duration) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> anyhow::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut socket = TcpStream::connect(addr)?;
    let chunk = vec![7u8; CHUNK];
    let start = Instant::now();
    while start.elapsed() < duration {
        socket.write_all(&chunk)?;
    }
    drop(socket);
    let total = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    Ok(mb_per_s(total, start.elapsed()))
}

/// Sequential 1 MiB writes into a new file with an fdatasync every 4 MiB; MB/s.
pub fn write_fdatasync(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    write_file(dir, total_bytes, true)
}

/// Sequential 1 MiB writes into a new file, no fsync: what appending to the
/// page cache costs, the bound on sustained acks=1 produce. On a VM whose
/// free memory is handed back to the host this is far below memory speed
/// (pages are faulted in from the host on first touch), so it is measured
/// after the workloads: measuring first would free pages for them to reuse.
pub fn write_page_cache(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    write_file(dir, total_bytes, false)
}

fn write_file(dir: &Path, total_bytes: u64, sync: bool) -> anyhow::Result<f64> {
    let path = dir.join("bench-ceiling.tmp");
    let mut file = std::fs::File::create(&path)?;
    let chunk = vec![7u8; CHUNK];
    let start = Instant::now();
    let mut written = 0u64;
    while written < total_bytes {
        file.write_all(&chunk)?;
        written += CHUNK as u64;
        if sync && written.is_multiple_of(4 * CHUNK as u64) {
            file.sync_data()?;
        }
    }
    if sync {
        file.sync_data()?;
    }
    let speed = mb_per_s(written, start.elapsed());
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(speed)
}
