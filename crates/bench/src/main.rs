//! `bench`: Fjord driven by librdkafka (the `rdkafka` crate), with the
//! machine's own ceilings measured in the same run. Prints one JSON line per
//! workload, then a table.
//!
//!   cargo build --release -p fjord -p fjord-bench && target/release/bench
//!   target/release/bench --quick              # smaller volumes
//!   target/release/bench --bootstrap host:port --workloads 1,5
//!   target/release/bench soak --duration 3600   # an hour of mixed load, no loss allowed
//!   target/release/bench --workloads 8        # 100,000 partitions (only when named)
//!   target/release/bench --workloads 9        # cold read under load (needs the bench's own broker)
//!   target/release/bench --workloads 3,10     # acks=all without, then with idempotence
//!   target/release/bench --workloads 10,11    # idempotent, then in transactions of 100 records
//!   target/release/bench --workloads 12       # raw protocol: pre-encoded requests, no client cost
//!   target/release/bench --workloads 13       # workloads 2 and 4 (16p) over TLS, beside plaintext
//!   target/release/bench --workloads 14       # workload 2 with the authorizer off, on with 100 and 10,000 ACLs

mod authorizer;
mod broker;
mod ceiling;
mod client;
mod cold_read;
mod flush_probe;
mod partitions;
mod raw;
mod scale;
mod soak;
mod stats;
mod tls;
mod transactions;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::{json, Value};

use crate::broker::BrokerProcess;
use crate::client::ProducerSettings;
use crate::workloads::{round, round3, ProduceSpec};

#[derive(Parser, Debug)]
#[command(about = "Fjord benchmark on a real Kafka client")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Use a running broker instead of starting one (workload 7 then skips
    /// RSS and start-up figures).
    #[arg(long)]
    bootstrap: Option<String>,
    /// With --bootstrap: the broker's process id, so that its CPU time and
    /// RSS are reported (scripts/bench-vs-kafka passes Kafka's).
    #[arg(long, requires = "bootstrap")]
    broker_pid: Option<u32>,
    /// The fjord binary to start (default: next to this binary).
    #[arg(long)]
    fjord: Option<PathBuf>,
    /// Where the temporary data dir goes (default: the system temp dir).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Comma-separated workload numbers (default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<u32>,
    /// A quarter of the volumes, for a quick look.
    #[arg(long)]
    quick: bool,
    /// Use this loopback ceiling (MB/s) instead of measuring it, e.g. while profiling.
    #[arg(long)]
    loopback_mb_s: Option<f64>,
    /// Workload 12: how many times it runs (rows give the median run).
    #[arg(long, default_value_t = 3)]
    raw_runs: usize,
    /// Workload 12: bytes asked for per Fetch request (one partition each).
    #[arg(long, default_value_t = 1 << 20)]
    raw_fetch_bytes: usize,
    /// Workload 8: number of topics.
    #[arg(long, default_value_t = 100)]
    many_topics: usize,
    /// Workload 8: partitions per topic.
    #[arg(long, default_value_t = 1000)]
    many_partitions_per_topic: i32,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Mixed producers, consumer groups and topic churn for a long time,
    /// checking that no acknowledged record is lost (see src/soak/mod.rs).
    Soak(soak::SoakArgs),
}

const KIB: usize = 1024;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Soak(soak_args)) = args.command {
        return soak::run(soak_args);
    }
    scale::raise_fd_limit();
    // Workload 8 takes minutes and its own broker: only when named.
    let wanted = |n: u32| (args.workloads.is_empty() && n != 8) || args.workloads.contains(&n);
    let divisor = if args.quick { 4 } else { 1 };
    let backlog_bytes: u64 = (1u64 << 30) / divisor;
    let data_root = args.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let data = tempfile::Builder::new()
        .prefix("fjord-bench-")
        .tempdir_in(&data_root)?;
    // Topic names unique to this run, so that --bootstrap can be reused.
    let run = std::process::id();
    let topic = |name: &str| format!("bench-{run}-{name}");
    let mut report = Report::default();

    let loopback = match args.loopback_mb_s {
        Some(given) => given,
        None => ceiling::loopback_tcp(Duration::from_secs(3))?,
    };
    report.emit(json!({"workload": "ceiling", "loopback_tcp_mb_per_s": round(loopback)}));

    let mut started = None;
    let mut bootstrap = match &args.bootstrap {
        Some(b) => {
            if let Some(pid) = args.broker_pid {
                report.watch_broker(pid);
                report.emit(
                    json!({"workload": "idle", "broker_rss_mb": round(broker::rss_mb_of(pid)?)}),
                );
            }
            b.clone()
        }
        None => {
            let binary = match &args.fjord {
                Some(path) => path.clone(),
                None => broker::default_binary()?,
            };
            // Workload 13 needs an SSL listener beside the plaintext one.
            let tls = if wanted(13) {
                Some(tls::TlsFiles::generate(&data.path().join("tls"))?)
            } else {
                None
            };
            let (process, _) =
                BrokerProcess::start_with_tls(&binary, &data.path().join("broker"), tls.as_ref())?;
            std::thread::sleep(Duration::from_secs(1));
            report.watch_broker(process.pid());
            report.emit(json!({"workload": "idle", "broker_rss_mb": round(process.rss_mb()?)}));
            let bootstrap = process.bootstrap.clone();
            started = Some(process);
            bootstrap
        }
    };

    let throughput = |acks| ProducerSettings {
        acks,
        linger_ms: 5,
        batch_bytes: 1 << 20,
        compression: "none",
        record_latency: acks == "all",
        idempotence: false,
    };
    let records_1k = backlog_bytes / KIB as u64;
    let mut w2_mb_s = None;
    let mut w3_mb_s = None;
    let mut w10_mb_s = None;
    if wanted(1) || wanted(4) {
        let spec = ProduceSpec {
            topic: &topic("w1"),
            partitions: 1,
            producers: 1,
            value_bytes: KIB,
            records: records_1k,
            settings: throughput("1"),
        };
        let figures = workloads::produce(&bootstrap, &spec)?;
        report.emit(workloads::produce_json(
            "1 produce 1p acks=1",
            &figures,
            loopback,
        ));
    }
    if wanted(2) || wanted(3) || wanted(4) || wanted(13) {
        let spec = ProduceSpec {
            topic: &topic("w2"),
            partitions: 16,
            producers: 4,
            value_bytes: KIB,
            records: records_1k,
            settings: throughput("1"),
        };
        let figures = workloads::produce(&bootstrap, &spec)?;
        w2_mb_s = Some(stats::mb_per_s(figures.bytes, figures.elapsed));
        report.emit(workloads::produce_json(
            "2 produce 16p x4 acks=1",
            &figures,
            loopback,
        ));
    }
    if wanted(3) {
        let spec = ProduceSpec {
            topic: &topic("w3"),
            partitions: 16,
            producers: 8,
            value_bytes: KIB,
            records: records_1k / 4,
            settings: throughput("all"),
        };
        let figures = workloads::produce(&bootstrap, &spec)?;
        w3_mb_s = Some(stats::mb_per_s(figures.bytes, figures.elapsed));
        let mut row = workloads::produce_json("3 produce 16p x8 acks=all", &figures, loopback);
        if let Some(w2) = w2_mb_s {
            row["ratio_to_workload_2"] =
                json!(round3(stats::mb_per_s(figures.bytes, figures.elapsed) / w2));
        }
        report.emit(row);
    }
    // Workload 3 with idempotence on, most clients' default: beside
    // workload 3 it shows what the producer-state checks cost.
    if wanted(10) {
        let spec = ProduceSpec {
            topic: &topic("w10"),
            partitions: 16,
            producers: 8,
            value_bytes: KIB,
            records: records_1k / 4,
            settings: ProducerSettings {
                idempotence: true,
                ..throughput("all")
            },
        };
        let figures = workloads::produce(&bootstrap, &spec)?;
        w10_mb_s = Some(stats::mb_per_s(figures.bytes, figures.elapsed));
        let mut row =
            workloads::produce_json("10 produce 16p x8 acks=all idempotent", &figures, loopback);
        if let Some(w3) = w3_mb_s {
            row["ratio_to_workload_3"] =
                json!(round3(stats::mb_per_s(figures.bytes, figures.elapsed) / w3));
        }
        report.emit(row);
    }
    // Workload 10 in transactions of 100 records, each committed: what a
    // transaction costs in throughput and what a commit takes.
    if wanted(11) {
        let name = "11 produce 16p x8 transactions of 100";
        match transactions::refusal(&bootstrap)? {
            Some(reason) => report.emit(json!({"workload": name, "refused": reason})),
            None => {
                let spec = ProduceSpec {
                    topic: &topic("w11"),
                    partitions: 16,
                    producers: 8,
                    value_bytes: KIB,
                    records: records_1k / 4,
                    settings: ProducerSettings {
                        idempotence: true,
                        record_latency: false,
                        ..throughput("all")
                    },
                };
                let probe = flush_probe::FlushProbe::start(data.path())?;
                let figures = transactions::produce(&bootstrap, &spec, 100)?;
                let mut row = transactions::json_row(name, &figures);
                flush_probe::add_to_row(&mut row, probe.finish()?);
                if let Some(w10) = w10_mb_s {
                    row["ratio_to_workload_10"] = json!(round3(
                        stats::mb_per_s(figures.bytes, figures.elapsed) / w10
                    ));
                }
                report.emit(row);
            }
        }
    }
    let mut w4_16p_mb_s = None;
    if wanted(4) || wanted(13) {
        // Workload 13 alone needs only the 16-partition plaintext baseline.
        let backlogs = [("w1", 1), ("w2", 16)]
            .into_iter()
            .filter(|(name, _)| *name == "w2" || wanted(4));
        for (name, partitions) in backlogs {
            let (bytes, elapsed) =
                workloads::consume_backlog(&bootstrap, &topic(name), partitions, records_1k)?;
            let mb = stats::mb_per_s(bytes, elapsed);
            if partitions == 16 {
                w4_16p_mb_s = Some(mb);
            }
            report.emit(
                json!({"workload": format!("4 consume backlog {partitions}p"), "gb": round3(stats::gb(bytes)), "mb_per_s": round(mb), "ratio_to_loopback": round3(mb / loopback)}),
            );
        }
    }
    // Workloads 2 and 4 (16 partitions) again through the SSL listener:
    // what TLS costs against the plaintext rows of this run.
    if wanted(13) {
        match started.as_ref().and_then(|p| p.tls.clone().zip(p.ssl_bootstrap.clone())) {
            Some((files, ssl_bootstrap)) => {
                let settings = files.client_settings();
                let extra = tls::borrowed(&settings);
                let spec = ProduceSpec {
                    topic: &topic("w13"),
                    partitions: 16,
                    producers: 4,
                    value_bytes: KIB,
                    records: records_1k,
                    settings: throughput("1"),
                };
                let figures = workloads::produce_with(&ssl_bootstrap, &spec, &extra)?;
                let mut row =
                    workloads::produce_json("13 TLS produce 16p x4 acks=1", &figures, loopback);
                if let Some(w2) = w2_mb_s {
                    row["ratio_to_workload_2"] =
                        json!(round3(stats::mb_per_s(figures.bytes, figures.elapsed) / w2));
                }
                report.emit(row);
                let (bytes, elapsed) = workloads::consume_backlog_with(
                    &ssl_bootstrap,
                    &topic("w13"),
                    16,
                    records_1k,
                    &extra,
                )?;
                let mb = stats::mb_per_s(bytes, elapsed);
                let mut row = json!({"workload": "13 TLS consume backlog 16p", "gb": round3(stats::gb(bytes)), "mb_per_s": round(mb), "ratio_to_loopback": round3(mb / loopback)});
                if let Some(w4) = w4_16p_mb_s {
                    row["ratio_to_workload_4_16p"] = json!(round3(mb / w4));
                }
                report.emit(row);
            }
            None => report.emit(json!({
                "workload": "13 TLS produce and consume",
                "skipped": "needs the bench's own broker (with an SSL listener): not with --bootstrap",
            })),
        }
    }
    if wanted(5) {
        let (latencies, moved) =
            workloads::end_to_end(&bootstrap, &topic("w5"), 10.0, KIB, Duration::from_secs(10))?;
        report.emit(latency_row("5 end-to-end at 10 MB/s", &latencies, moved));
    }
    if wanted(6) {
        let settings = ProducerSettings {
            idempotence: false,
            acks: "1",
            linger_ms: 5,
            batch_bytes: 1 << 20,
            compression: "lz4",
            record_latency: false,
        };
        let spec = ProduceSpec {
            topic: &topic("w6"),
            partitions: 1,
            producers: 1,
            value_bytes: 100,
            records: 5_000_000 / divisor,
            settings,
        };
        let figures = workloads::produce(&bootstrap, &spec)?;
        report.emit(workloads::produce_json(
            "6 produce 100 B lz4",
            &figures,
            loopback,
        ));
    }
    if wanted(12) {
        let spec = raw::RawSpec {
            bootstrap: &bootstrap,
            topic_prefix: &topic("w12"),
            total_bytes: backlog_bytes,
            runs: args.raw_runs,
            broker_pid: report.broker_pid,
            loopback_mb_s: loopback,
            fetch_bytes: args.raw_fetch_bytes,
            scratch_dir: data.path(),
        };
        for row in raw::run(&spec)? {
            report.emit(row);
        }
    }
    if wanted(7) {
        let populated = scale::populate(&bootstrap, &topic("w7"), 1000)?;
        let connections = scale::idle_connections(&bootstrap, 1000)?;
        let rss = started.as_ref().map(|p| p.rss_mb()).transpose()?;
        let (latencies, moved) = workloads::end_to_end(
            &bootstrap,
            &topic("w7-latency"),
            10.0,
            KIB,
            Duration::from_secs(5),
        )?;
        drop(connections);
        let mut row = latency_row(
            "7 1000 partitions + 1000 connections",
            &latencies,
            populated + moved,
        );
        row["broker_rss_mb"] = json!(rss.map(round));
        if let Some(process) = started.take() {
            // Read before the stop: the row's CPU is the stopped broker's.
            if let Some(used) = report.cpu_since_last_row() {
                row["broker_cpu_s"] = json!(round3(used));
            }
            let (binary, dir) = (process.binary.clone(), process.data_dir.clone());
            let tls = process.tls.clone();
            process.stop()?;
            let (restarted, startup) = BrokerProcess::start_with_tls(&binary, &dir, tls.as_ref())?;
            row["startup_ms"] = json!(round(startup.as_secs_f64() * 1000.0));
            report.watch_broker(restarted.pid());
            // the restarted broker listens on a port of its own
            bootstrap = restarted.bootstrap.clone();
            started = Some(restarted);
        }
        report.emit(row);
    }
    if wanted(9) {
        match &started {
            Some(process) => {
                let spec = cold_read::ColdRead {
                    bootstrap: &bootstrap,
                    broker_data_dir: &process.data_dir,
                    backlog_topic: &topic("w9-backlog"),
                    live_topic: &topic("w9-live"),
                    backlog_bytes,
                    baseline: Duration::from_secs(10),
                };
                report.emit(cold_read::run(&spec)?);
            }
            None => report.emit(json!({
                "workload": "9 cold read under load",
                "skipped": "needs the broker's data dir: not with --bootstrap",
            })),
        }
    }
    if let Some(process) = started {
        process.stop()?;
    }
    // Brokers of its own (the authorizer is a start-up config).
    if wanted(14) {
        match (&args.bootstrap, &args.fjord) {
            (Some(_), _) => report.emit(json!({
                "workload": "14 produce with the authorizer",
                "skipped": "starts brokers of its own: not with --bootstrap",
            })),
            (None, fjord) => {
                let binary = match fjord {
                    Some(path) => path.clone(),
                    None => broker::default_binary()?,
                };
                let spec = ProduceSpec {
                    topic: &topic("w14"),
                    partitions: 16,
                    producers: 4,
                    value_bytes: KIB,
                    records: records_1k,
                    settings: throughput("1"),
                };
                for row in authorizer::run(&binary, data.path(), &spec, loopback)? {
                    report.emit(row);
                }
            }
        }
    }
    if wanted(8) {
        let binary = match &args.fjord {
            Some(path) => path.clone(),
            None => broker::default_binary()?,
        };
        let shape = partitions::Shape {
            topics: args.many_topics,
            partitions_per_topic: args.many_partitions_per_topic,
        };
        report.emit(partitions::run(
            &binary,
            &data.path().join("many-partitions"),
            &shape,
        )?);
    }
    // Disk ceilings last: the files they write and delete would otherwise
    // leave freed pages for the first workloads to reuse (see ceiling.rs).
    if args.loopback_mb_s.is_none() {
        let page_cache = ceiling::write_page_cache(data.path(), backlog_bytes)?;
        let fdatasync = ceiling::write_fdatasync(data.path(), (512u64 << 20) / divisor)?;
        report.emit(json!({
            "workload": "ceiling (measured last)",
            "write_page_cache_mb_per_s": round(page_cache),
            "write_fdatasync_mb_per_s": round(fdatasync),
        }));
    }
    print_table(&report.rows);
    Ok(())
}

/// The rows printed so far; each gets the broker CPU time it used, when the
/// bench knows the broker's process (it started it, or --broker-pid).
#[derive(Default)]
struct Report {
    rows: Vec<Value>,
    broker_pid: Option<u32>,
    cpu_at_last_row: f64,
}

impl Report {
    /// The watched broker's CPU seconds since the last row, while it runs.
    fn cpu_since_last_row(&self) -> Option<f64> {
        let pid = self.broker_pid?;
        let cpu = broker::cpu_seconds(pid).ok()?;
        Some(cpu - self.cpu_at_last_row)
    }

    fn watch_broker(&mut self, pid: u32) {
        self.broker_pid = Some(pid);
        self.cpu_at_last_row = broker::cpu_seconds(pid).unwrap_or(0.0);
    }

    /// Prints a row with the broker's CPU time since the last row, per GB
    /// where the row moved data (its `gb`: bytes produced plus bytes
    /// consumed), its RSS now and the machine's load average. A row that
    /// brings its broker CPU (workload 12 per phase, 7 from the broker it
    /// stops, 8 from its own brokers) keeps it.
    fn emit(&mut self, mut row: Value) {
        if let Some(pid) = self.broker_pid {
            if let Ok(cpu) = broker::cpu_seconds(pid) {
                if row.get("broker_cpu_s").is_none_or(Value::is_null) {
                    row["broker_cpu_s"] = json!(round3(cpu - self.cpu_at_last_row));
                }
                self.cpu_at_last_row = cpu;
            }
            if row.get("broker_rss_mb").is_none() {
                if let Ok(rss) = broker::rss_mb_of(pid) {
                    row["broker_rss_mb"] = json!(round(rss));
                }
            }
        }
        let used = row.get("broker_cpu_s").and_then(Value::as_f64);
        let gb = row.get("gb").and_then(Value::as_f64).filter(|g| *g > 0.0);
        if let (Some(used), Some(gb), None) = (used, gb, row.get("broker_cpu_s_per_gb")) {
            row["broker_cpu_s_per_gb"] = json!(round3(used / gb));
        }
        if let Ok(load) = stats::load_average() {
            row["load_1m"] = json!(load);
        }
        println!("{row}");
        self.rows.push(row);
    }
}

/// `moved`: the value bytes produced plus those consumed.
fn latency_row(name: &str, latencies: &stats::Latencies, moved: u64) -> Value {
    json!({
        "workload": name,
        "gb": round3(stats::gb(moved)),
        "samples": latencies.len(),
        "p50_ms": round3(latencies.percentile_ms(50.0)),
        "p99_ms": round3(latencies.percentile_ms(99.0)),
        "p99_9_ms": round3(latencies.percentile_ms(99.9)),
    })
}

fn print_table(rows: &[Value]) {
    println!();
    println!("{:<40} figures", "workload");
    for row in rows {
        let Some(object) = row.as_object() else {
            continue;
        };
        let name = object
            .get("workload")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let figures: Vec<String> = object
            .iter()
            .filter(|(k, v)| *k != "workload" && !v.is_null())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("{name:<40} {}", figures.join("  "));
    }
}
