//! `bench soak`: an hour (or `--duration`) of mixed work against a real
//! `fjord` it starts: paced producers (acks=all and acks=1, three codecs),
//! topics created and deleted, each read by a group whose members join and
//! leave. Every acknowledged record must be read back by its topic's group
//! with its bytes before the topic is deleted; anything else is a loss.
//! Prints figures at the start, every `--report-every` seconds and at the
//! end, with the broker's RSS and open files; exits non-zero on a loss or
//! any other problem.

mod clients;
mod ledger;
mod topics;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;

use crate::broker::{self, BrokerProcess};
use clients::{ProducerSpec, Shared};
use ledger::Verdict;
use topics::{Admin, LiveTopic};

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 3600)]
    duration: u64,
    /// Total produce rate over all producers, in MB/s.
    #[arg(long, default_value_t = 2.0)]
    mb_per_s: f64,
    /// Topics alive at once.
    #[arg(long, default_value_t = 3)]
    topics: usize,
    /// A topic lives this many seconds (at random, up to twice that).
    #[arg(long, default_value_t = 120)]
    topic_lifetime: u64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 60)]
    report_every: u64,
    /// The fjord binary to start (default: next to this binary).
    #[arg(long)]
    fjord: Option<PathBuf>,
    /// Where the temporary data dir goes (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
}

/// Verdicts of retired topics, summed.
#[derive(Default)]
struct Totals {
    retired: u64,
    acked: u64,
    lost: u64,
    problems: Vec<String>,
}

impl Totals {
    fn add(&mut self, verdict: Verdict) {
        self.retired += 1;
        self.acked += verdict.acked;
        self.lost += verdict.lost;
        for problem in verdict.problems {
            eprintln!("soak problem: {problem}");
            self.problems.push(problem);
        }
    }
}

pub fn run(args: SoakArgs) -> anyhow::Result<()> {
    let binary = match &args.fjord {
        Some(path) => path.clone(),
        None => broker::default_binary()?,
    };
    let data_root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let data = tempfile::Builder::new()
        .prefix("fjord-soak-")
        .tempdir_in(&data_root)?;
    let data_dir = data.path().join("broker");
    let (mut process, _) = BrokerProcess::start(&binary, &data_dir)?;
    let bootstrap = process.bootstrap.clone();
    println!(
        "soak: {} s at {} MB/s, {} topics at a time, broker {} (pid {}) on {bootstrap}, data in {}",
        args.duration,
        args.mb_per_s,
        args.topics,
        binary.display(),
        process.pid(),
        data_dir.display()
    );
    let shared = Arc::new(Shared::default());
    let totals = Arc::new(Mutex::new(Totals::default()));
    let started = Instant::now();
    let start_files = open_files(process.pid()).total;
    let start_line = report(&process, &data_dir, &shared, &totals, started, "start")?;

    let admin: Arc<Admin> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?,
    );
    let specs = [("all", "none"), ("all", "lz4"), ("1", "zstd")];
    let producers: Vec<JoinHandle<anyhow::Result<()>>> = specs
        .iter()
        .enumerate()
        .map(|(id, &(acks, compression))| {
            let spec = ProducerSpec {
                id: id as u32,
                acks,
                compression,
                bytes_per_s: args.mb_per_s * 1e6 / specs.len() as f64,
            };
            let (bootstrap, shared) = (bootstrap.clone(), shared.clone());
            std::thread::spawn(move || clients::produce(&bootstrap, spec, shared))
        })
        .collect();

    let mut rng = fastrand::Rng::new();
    let mut live: Vec<LiveTopic> = Vec::new();
    let mut retiring: Vec<JoinHandle<()>> = Vec::new();
    let (mut created, mut next_report) = (0u64, Instant::now());
    let run_for = Duration::from_secs(args.duration);
    next_report += Duration::from_secs(args.report_every);
    while started.elapsed() < run_for {
        if let Some(status) = process.exited()? {
            anyhow::bail!("the broker exited during the soak: {status}");
        }
        while live.len() < args.topics {
            let name = format!("soak-{}-{created}", std::process::id());
            let lifetime =
                Duration::from_secs(rng.u64(args.topic_lifetime..=2 * args.topic_lifetime));
            let topic = topics::create(&admin, name, lifetime, &mut rng)?;
            created += 1;
            shared
                .live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(topic.ledger.clone());
            live.push(topic);
        }
        for topic in &mut live {
            topic.churn_members(&bootstrap, &shared, &mut rng)?;
        }
        let (expired, kept): (Vec<_>, Vec<_>) =
            live.drain(..).partition(|t| Instant::now() >= t.retire_at);
        live = kept;
        for topic in expired {
            retiring.push(spawn_retire(topic, &bootstrap, &admin, &shared, &totals));
        }
        retiring.retain(|r| !r.is_finished());
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(args.report_every);
            report(&process, &data_dir, &shared, &totals, started, "running")?;
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    println!("soak: time is up; retiring the last topics");
    for topic in live.drain(..) {
        retiring.push(spawn_retire(topic, &bootstrap, &admin, &shared, &totals));
    }
    for handle in retiring {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("retiring thread panicked"))?;
    }
    shared.stop.store(true, Ordering::Relaxed);
    for producer in producers {
        producer
            .join()
            .map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
    }
    drop(admin);
    // The broker may still be deleting the last topics' files and closing
    // connections: give it up to 30 s to come back to its starting count.
    let settle = Instant::now();
    while open_files(process.pid()).total > start_files
        && settle.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_secs(1));
    }
    let end_line = report(&process, &data_dir, &shared, &totals, started, "end")?;
    println!("soak start: {start_line}");
    println!("soak end:   {end_line}");
    process.stop()?;
    let totals = totals.lock().unwrap_or_else(|e| e.into_inner());
    anyhow::ensure!(
        totals.lost == 0 && totals.problems.is_empty(),
        "{} records lost, {} problems (listed above)",
        totals.lost,
        totals.problems.len()
    );
    println!("soak: passed");
    Ok(())
}

fn spawn_retire(
    topic: LiveTopic,
    bootstrap: &str,
    admin: &Arc<Admin>,
    shared: &Arc<Shared>,
    totals: &Arc<Mutex<Totals>>,
) -> JoinHandle<()> {
    let (bootstrap, admin) = (bootstrap.to_string(), admin.clone());
    let (shared, totals) = (shared.clone(), totals.clone());
    std::thread::spawn(move || {
        let verdict = topic.retire(&bootstrap, &admin, &shared);
        totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(verdict);
    })
}

/// Prints one progress line and returns it.
fn report(
    process: &BrokerProcess,
    data_dir: &Path,
    shared: &Shared,
    totals: &Mutex<Totals>,
    started: Instant,
    label: &str,
) -> anyhow::Result<String> {
    let count = |path: PathBuf| std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0);
    let (retired, verified, lost, problems) = {
        let t = totals.lock().unwrap_or_else(|e| e.into_inner());
        (t.retired, t.acked, t.lost, t.problems.len())
    };
    let fds = open_files(process.pid());
    let line = format!(
        "[{label} {:>5} s] records: produced {}, acknowledged {}, consumed {}, verified {verified}, \
         lost {lost}; delivery failures {} (not acknowledged, so not lost), slowest delivery \
         acks=all {} ms, acks=1 {} ms; problems {problems}; topics: {retired} retired; \
         members: {} joined, {} left; commits {} ({} failed); consumer errors {}; \
         broker: RSS {:.1} MB, {} open files ({} sockets, {} deleted files), \
         {} entries in the data dir; \
         CPU s: broker {:.0}, soak {:.0}",
        started.elapsed().as_secs(),
        shared.sent.load(Ordering::Relaxed),
        shared.acknowledged.load(Ordering::Relaxed),
        shared.consumed.load(Ordering::Relaxed),
        shared.delivery_failures.load(Ordering::Relaxed),
        shared.slowest_acks_all_ms.swap(0, Ordering::Relaxed),
        shared.slowest_acks_1_ms.swap(0, Ordering::Relaxed),
        shared.members_joined.load(Ordering::Relaxed),
        shared.members_left.load(Ordering::Relaxed),
        shared.commits.load(Ordering::Relaxed),
        shared.commit_failures.load(Ordering::Relaxed),
        shared.consumer_errors.load(Ordering::Relaxed),
        process.rss_mb()?,
        fds.total,
        fds.sockets,
        fds.deleted,
        count(data_dir.to_path_buf()),
        broker::cpu_seconds(process.pid())?,
        broker::cpu_seconds(std::process::id())?,
    );
    println!("{line}");
    Ok(line)
}

struct OpenFiles {
    total: usize,
    sockets: usize,
    deleted: usize,
}

/// The open file descriptors of `pid`, from /proc: all of them, sockets, and
/// files deleted while still open (a handle kept after a segment or topic
/// was deleted shows up there).
fn open_files(pid: u32) -> OpenFiles {
    let mut fds = OpenFiles {
        total: 0,
        sockets: 0,
        deleted: 0,
    };
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return fds;
    };
    for entry in entries.flatten() {
        fds.total += 1;
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        let target = target.to_string_lossy();
        if target.starts_with("socket:") {
            fds.sockets += 1;
        } else if target.ends_with(" (deleted)") {
            fds.deleted += 1;
        }
    }
    fds
}
