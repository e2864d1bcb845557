//! The kill -9 loop on the real `fjord` binary. Producers with acks=all (no
//! retries: a record is sent once, so a duplicate is the broker's) and a
//! consumer group committing synchronously after processing run while the
//! broker is killed at random moments and restarted on the same port and
//! data dir, with the same clients reconnecting. After a last kill and
//! restart, the check is exact: every acknowledged record is stored once, at
//! the offset its delivery report gave, with its bytes; every acknowledged
//! commit (or a later one) is what the group fetches back.
//!
//! CI runs 5 cycles. By hand: `FJORD_CRASH_CYCLES=30 cargo test --release -p
//! fjord --test crash_loop -- --nocapture`; `FJORD_CRASH_SEED=<n>` replays
//! the kill moments of a run (its seed is printed first).

#[path = "../common/mod.rs"]
mod common;

mod check;
mod load;

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::BinaryBroker;

use crate::load::Load;

const PARTITIONS: i32 = 4;
const GROUP: &str = "crash-loop";
const DEFAULT_CYCLES: u32 = 5;

/// After a restart, the load must show this much progress within this time:
/// the clients reconnected, the group rejoined and committed.
const PROGRESS_RECORDS: usize = 300;
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value}: {e}")),
    )
}

/// A loopback port below the kernel's ephemeral range, free now. The broker
/// comes back on it after each kill; a port from the ephemeral range could be
/// taken in between as the local port of some outgoing connection.
fn fixed_port(rng: &mut fastrand::Rng) -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_else(|_| "32768 60999".into());
    let ephemeral_low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32768);
    assert!(
        ephemeral_low > 11_000,
        "ephemeral ports start at {ephemeral_low}"
    );
    for _ in 0..200 {
        let port = rng.u16(10_000..ephemeral_low);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {ephemeral_low}");
}

fn start(listen: &str, dir: &Path) -> BinaryBroker {
    BinaryBroker::start_listening(
        listen,
        dir,
        &[
            ("num.partitions", "4"),
            ("group.initial.rebalance.delay.ms", "0"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loop_loses_no_acknowledged_record_or_commit() {
    if common::skipped_for_external("kills its broker again and again") {
        return;
    }
    let cycles = env_number("FJORD_CRASH_CYCLES").unwrap_or(DEFAULT_CYCLES as u64) as u32;
    let seed = env_number("FJORD_CRASH_SEED").unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash loop: {cycles} cycles, FJORD_CRASH_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let began = Instant::now();

    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("127.0.0.1:{}", fixed_port(&mut rng));
    let mut broker = start(&listen, dir.path());
    let topic = common::unique_topic("crash-loop");
    common::create_topic(&broker.bootstrap, &topic, PARTITIONS, &[]).await;

    let load = Load::start(&broker.bootstrap, &topic, GROUP);
    let mut quick_kills = 0;
    for cycle in 1..=cycles {
        // A quarter of the kills land while clients reconnect and the group
        // rejoins; the others after the load made progress, at a random
        // moment of it.
        if cycle > 1 && rng.u32(0..4) == 0 {
            quick_kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.u64(0..500))).await;
        } else {
            load.wait_for_progress(PROGRESS_RECORDS, PROGRESS_TIMEOUT)
                .await;
            tokio::time::sleep(Duration::from_millis(rng.u64(0..2000))).await;
        }
        broker.kill9();
        eprintln!(
            "cycle {cycle}/{cycles}: killed at {} acknowledged records, {} acknowledged commits",
            load.acked_records(),
            load.acked_commits()
        );
        tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
        broker = start(&listen, dir.path());
    }
    // The clients must still work after the last restart before they stop.
    load.wait_for_progress(PROGRESS_RECORDS, PROGRESS_TIMEOUT)
        .await;
    let outcome = load.stop().await;

    // The last kill comes with no client connected, then a restart to check on.
    broker.kill9();
    let broker = start(&listen, dir.path());
    let records = check::records(&broker.bootstrap, &topic, PARTITIONS, &outcome.acked).await;
    let commits = check::commits(
        &broker.bootstrap,
        &topic,
        GROUP,
        PARTITIONS,
        &outcome.commits,
    )
    .await;
    eprintln!(
        "crash loop figures: {cycles} cycles ({quick_kills} during reconnection) + a final kill, \
         seed {seed}; records: {} sent, {} acknowledged, {} stored ({} of them unacknowledged), \
         {} lost; consumed by the group {}; commits: {} attempted, {} acknowledged, {} lost; {:.1} s",
        outcome.sent,
        outcome.acked.len(),
        records.stored,
        records.stored_unacknowledged,
        records.lost,
        outcome.consumed.load(Ordering::Relaxed),
        outcome.commits.attempted.len(),
        outcome.commits.acknowledged.len(),
        commits.lost,
        began.elapsed().as_secs_f64()
    );
    assert_eq!(records.lost, 0, "acknowledged records lost");
    assert_eq!(commits.lost, 0, "acknowledged commits lost");
    assert!(
        !outcome.commits.acknowledged.is_empty(),
        "the group never committed"
    );
    broker.terminate();
}
