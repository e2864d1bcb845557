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

/// The CPU seconds (user + system) this thread spends writing `total_bytes`
/// into a new file without fsync: the kernel's copy into page-cache pages,
/// which every broker's produce pays as well. On this VM it swings several
/// times over with the host's memory (0.3 to 4 s per GB was seen), so the
/// produce rows of workload 12 give it beside the broker's CPU.
pub fn page_cache_write_cpu(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    let before = thread_cpu_seconds()?;
    write_file(dir, total_bytes, false)?;
    Ok(thread_cpu_seconds()? - before)
}

fn thread_cpu_seconds() -> anyhow::Result<f64> {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let status = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    anyhow::ensure!(
        status == 0,
        "getrusage: {}",
        std::io::Error::last_os_error()
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(seconds(usage.ru_utime) + seconds(usage.ru_stime))
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

/// The CPU seconds this thread spends receiving `total_bytes` over
/// loopback TCP (1 MiB reads, a sender thread writing from memory) and
/// writing them into a new file without fsync: the kernel's copy out of
/// the socket and its copy into the page cache, which a broker's produce
/// pays whatever it does in user space. Beside a produce row's broker CPU,
/// what is left over is the broker's own.
pub fn recv_write_cpu(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut socket = TcpStream::connect(addr)?;
        let chunk = vec![7u8; CHUNK];
        let mut sent = 0u64;
        while sent < total_bytes {
            socket.write_all(&chunk)?;
            sent += CHUNK as u64;
        }
        Ok(())
    });
    let (mut socket, _) = listener.accept()?;
    let path = dir.join("bench-floor-recv.tmp");
    let mut file = std::fs::File::create(&path)?;
    let mut buf = vec![0u8; CHUNK];
    let before = thread_cpu_seconds()?;
    loop {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
    }
    let cpu = thread_cpu_seconds()? - before;
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(cpu)
}

/// The CPU seconds this thread spends sending `total_bytes` of a file in
/// the page cache over loopback TCP with sendfile(2), 1 MiB a call on a
/// blocking socket, a reader thread discarding them: the kernel's part of
/// a zero-copy fetch (on loopback that includes delivering the segments
/// into the reader's socket), which no broker serving plaintext fetches
/// from its files goes below.
pub fn sendfile_cpu(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    use std::os::fd::AsRawFd;
    let path = dir.join("bench-floor-sendfile.tmp");
    write_file_kept(&path, total_bytes)?;
    let file = std::fs::File::open(&path)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut socket = TcpStream::connect(addr)?;
        let mut buf = vec![0u8; CHUNK];
        while socket.read(&mut buf)? != 0 {}
        Ok(())
    });
    let (socket, _) = listener.accept()?;
    let mut offset: libc::off_t = 0;
    let before = thread_cpu_seconds()?;
    while (offset as u64) < total_bytes {
        let left = (total_bytes - offset as u64).min(CHUNK as u64) as usize;
        // SAFETY: both descriptors are open; `offset` is ours for the kernel to advance.
        let sent =
            unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
        if sent < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err.into());
            }
        } else if sent == 0 {
            anyhow::bail!("sendfile control: file ended early");
        }
    }
    let cpu = thread_cpu_seconds()? - before;
    drop(socket);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(cpu)
}

/// Writes `total_bytes` into a new file at `path` and leaves it there (in
/// the page cache, just written).
fn write_file_kept(path: &Path, total_bytes: u64) -> anyhow::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![7u8; CHUNK];
    let mut written = 0u64;
    while written < total_bytes {
        file.write_all(&chunk)?;
        written += CHUNK as u64;
    }
    Ok(())
}
