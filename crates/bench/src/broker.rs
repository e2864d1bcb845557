//! The broker under test: a release `fjord` started by the bench, or one
//! given with `--bootstrap`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tls::TlsFiles;

pub struct BrokerProcess {
    child: Child,
    pub bootstrap: String,
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    /// The SSL listener's certificates, when it has one (workload 13).
    pub tls: Option<TlsFiles>,
    /// The SSL listener's address, beside the plaintext `bootstrap`.
    pub ssl_bootstrap: Option<String>,
}

impl BrokerProcess {
    /// Starts `fjord serve` on a free loopback port; returns once it accepts.
    pub fn start(binary: &Path, data_dir: &Path) -> anyhow::Result<(BrokerProcess, Duration)> {
        BrokerProcess::start_with_tls(binary, data_dir, None)
    }

    /// As `start`, and with `tls` an SSL listener on another free port too.
    pub fn start_with_tls(
        binary: &Path,
        data_dir: &Path,
        tls: Option<&TlsFiles>,
    ) -> anyhow::Result<(BrokerProcess, Duration)> {
        BrokerProcess::start_configured(binary, data_dir, tls, &[])
    }

    /// As `start_with_tls`, with `overrides` (Kafka `name=value` configs)
    /// given as `--override` flags.
    pub fn start_configured(
        binary: &Path,
        data_dir: &Path,
        tls: Option<&TlsFiles>,
        overrides: &[String],
    ) -> anyhow::Result<(BrokerProcess, Duration)> {
        let port = free_port()?;
        let bootstrap = format!("127.0.0.1:{port}");
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", &bootstrap, "--data-dir"])
            .arg(data_dir)
            .args(["--override", "num.partitions=1"]);
        for name_value in overrides {
            command.arg("--override").arg(name_value);
        }
        let ssl_bootstrap = match tls {
            Some(files) => {
                let ssl_bootstrap = format!("127.0.0.1:{}", free_port()?);
                command
                    .arg("--override")
                    .arg(format!(
                        "listeners=PLAINTEXT://{bootstrap},SSL://{ssl_bootstrap}"
                    ))
                    .arg("--override")
                    .arg(format!(
                        "ssl.keystore.location={}",
                        files.keystore.display()
                    ));
                Some(ssl_bootstrap)
            }
            None => None,
        };
        let started = Instant::now();
        let child = command
            .env("FJORD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut broker = BrokerProcess {
            child,
            bootstrap,
            binary: binary.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            tls: tls.cloned(),
            ssl_bootstrap,
        };
        let listening = |broker: &BrokerProcess| {
            TcpStream::connect(&broker.bootstrap).is_ok()
                && broker
                    .ssl_bootstrap
                    .as_ref()
                    .is_none_or(|ssl| TcpStream::connect(ssl).is_ok())
        };
        while !listening(&broker) {
            if let Some(status) = broker.child.try_wait()? {
                anyhow::bail!("fjord exited during start-up: {status}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("fjord did not start listening within 60 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok((broker, started.elapsed()))
    }

    /// The exit status, if the broker is no longer running.
    pub fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in MB, from /proc.
    pub fn rss_mb(&self) -> anyhow::Result<f64> {
        rss_mb_of(self.pid())
    }
}

impl BrokerProcess {
    /// File descriptors the broker holds (files and sockets), from /proc.
    pub fn open_files(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }
}

/// CPU time (user + system) a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat format"))?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        Ok((ticks(11) + ticks(12)) / clock_ticks_per_second())
    }
}

impl BrokerProcess {
    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The release `fjord` next to this bench binary (same target dir).
pub fn default_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("bench binary has no directory"))?;
    let candidate = dir.join("fjord");
    anyhow::ensure!(
        candidate.exists(),
        "{} not found: build it with `cargo build --release -p fjord`, or pass --fjord",
        candidate.display()
    );
    Ok(candidate)
}

/// Resident set size in MB of any process, from /proc.
pub fn rss_mb_of(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc status"))?;
    Ok(kb / 1024.0)
}
