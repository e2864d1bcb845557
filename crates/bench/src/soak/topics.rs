//! A soak topic's life: created with a random shape, consumed by a group
//! whose members come and go, then retired: no more produce, the group reads
//! everything acknowledged, the group and the topic are deleted, and the
//! ledger gives its verdict.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use super::clients::{member, Shared};
use super::ledger::{TopicLedger, Verdict};

pub type Admin = AdminClient<DefaultClientContext>;

const MEMBER_LIFETIME_S: std::ops::Range<u64> = 15..90;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

pub struct LiveTopic {
    pub ledger: Arc<TopicLedger>,
    pub retire_at: Instant,
    stop_members: Arc<AtomicBool>,
    members: Vec<JoinHandle<anyhow::Result<()>>>,
    target_members: usize,
    reroll_at: Instant,
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(Duration::from_secs(30)))
}

/// Creates `name` with 1–6 partitions, half of them with 1 MiB segments
/// (so that segments roll and files open and close), and starts its group.
pub fn create(
    admin: &Admin,
    name: String,
    lifetime: Duration,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<LiveTopic> {
    let partitions = rng.i32(1..=6);
    let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
    if rng.bool() {
        topic = topic.set("segment.bytes", "1048576");
    }
    let results = futures::executor::block_on(admin.create_topics([&topic], &options()))?;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    let group = format!("{name}-group");
    Ok(LiveTopic {
        ledger: Arc::new(TopicLedger::new(name, group, partitions)),
        retire_at: Instant::now() + lifetime,
        stop_members: Arc::new(AtomicBool::new(false)),
        members: Vec::new(),
        target_members: rng.usize(1..=3),
        reroll_at: Instant::now(),
    })
}

impl LiveTopic {
    fn spawn_member(&mut self, bootstrap: &str, lifetime: Duration, shared: &Arc<Shared>) {
        let (bootstrap, ledger) = (bootstrap.to_string(), self.ledger.clone());
        let (stop, shared) = (self.stop_members.clone(), shared.clone());
        self.members.push(std::thread::spawn(move || {
            member(&bootstrap, ledger, lifetime, stop, shared)
        }));
    }

    /// Members come and go: those past their lifetime have left; new ones
    /// join up to a target that changes every minute or so.
    pub fn churn_members(
        &mut self,
        bootstrap: &str,
        shared: &Arc<Shared>,
        rng: &mut fastrand::Rng,
    ) -> anyhow::Result<()> {
        self.reap()?;
        if Instant::now() >= self.reroll_at {
            self.target_members = rng.usize(1..=3);
            self.reroll_at = Instant::now() + Duration::from_secs(rng.u64(30..90));
        }
        while self.members.len() < self.target_members {
            let lifetime = Duration::from_secs(rng.u64(MEMBER_LIFETIME_S));
            self.spawn_member(bootstrap, lifetime, shared);
        }
        Ok(())
    }

    fn reap(&mut self) -> anyhow::Result<()> {
        let (done, running): (Vec<_>, Vec<_>) =
            self.members.drain(..).partition(|m| m.is_finished());
        self.members = running;
        for member in done {
            member
                .join()
                .map_err(|_| anyhow::anyhow!("group member thread panicked"))??;
        }
        Ok(())
    }

    /// Takes the topic off the producers' list, waits until every delivery
    /// report is in and the group has read every acknowledged record, then
    /// deletes the group and the topic.
    pub fn retire(mut self, bootstrap: &str, admin: &Admin, shared: &Arc<Shared>) -> Verdict {
        shared
            .live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| !Arc::ptr_eq(t, &self.ledger));
        // A member that stays until the end, whatever the others do.
        self.spawn_member(bootstrap, Duration::MAX, shared);
        let ledger = self.ledger.clone();
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while ledger.in_flight.load(Ordering::SeqCst) > 0 || ledger.unconsumed() > 0 {
            if Instant::now() > deadline {
                ledger.problem(format!(
                    "{}: after {DRAIN_TIMEOUT:?}, {} records still in flight, {} acknowledged not read",
                    ledger.name,
                    ledger.in_flight.load(Ordering::SeqCst),
                    ledger.unconsumed()
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.stop_members.store(true, Ordering::Relaxed);
        for member in self.members.drain(..) {
            match member.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => ledger.problem(format!("{}: member: {e}", ledger.name)),
                Err(_) => ledger.problem(format!("{}: member thread panicked", ledger.name)),
            }
        }
        if let Err(e) = delete(admin, &ledger) {
            ledger.problem(e.to_string());
        }
        ledger.verdict()
    }
}

fn delete(admin: &Admin, ledger: &TopicLedger) -> anyhow::Result<()> {
    let groups = futures::executor::block_on(admin.delete_groups(&[&ledger.group], &options()))?;
    for result in groups {
        result.map_err(|(group, code)| anyhow::anyhow!("deleting group {group}: {code}"))?;
    }
    let topics = futures::executor::block_on(admin.delete_topics(&[&ledger.name], &options()))?;
    for result in topics {
        result.map_err(|(topic, code)| anyhow::anyhow!("deleting topic {topic}: {code}"))?;
    }
    Ok(())
}
