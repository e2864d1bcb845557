//! The load the broker is killed under: producers with acks=all and a
//! two-member consumer group committing synchronously, all recording what
//! the broker acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fjord_testkit::group_member::{leave_group, GroupMember};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::common;
use crate::common::acknowledged::{self, Delivered};

const PRODUCERS: u32 = 2;
const MEMBERS: u32 = 2;
const IN_FLIGHT: usize = 256;
/// A member commits what it processed at least this often.
const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// How long a stopping member may take to leave the group and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

pub fn key(producer: u32, seq: u64) -> String {
    format!("p{producer}-{seq}")
}

/// `p{producer}-{seq}` → (producer, seq).
pub fn parse_key(key: &[u8]) -> Option<(u32, u64)> {
    let (producer, seq) = std::str::from_utf8(key)
        .ok()?
        .strip_prefix('p')?
        .split_once('-')?;
    Some((producer.parse().ok()?, seq.parse().ok()?))
}

/// 16–315 bytes that depend on the whole key, so a record stored under the
/// wrong key or with damaged bytes does not match.
pub fn value(producer: u32, seq: u64) -> Vec<u8> {
    let mut bytes = vec![0; 16 + (seq.wrapping_mul(2_654_435_761) % 300) as usize];
    fastrand::Rng::with_seed(seq ^ (u64::from(producer) << 48)).fill(&mut bytes);
    bytes
}

#[derive(Debug, Clone, Copy)]
pub struct Acked {
    pub producer: u32,
    pub seq: u64,
    pub partition: i32,
    pub offset: i64,
}

/// Offset commits: every one sent, and those the broker acknowledged, in the
/// order the acknowledgements arrived.
#[derive(Debug, Default)]
pub struct Commits {
    pub attempted: Vec<(i32, i64)>,
    pub acknowledged: Vec<(i32, i64)>,
}

/// What the load recorded, once stopped.
pub struct Outcome {
    pub sent: u64,
    pub acked: Vec<Acked>,
    pub commits: Commits,
    pub consumed: Arc<AtomicU64>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    /// Delivery reports, one list per producer.
    delivered: Vec<Arc<Mutex<Vec<Delivered>>>>,
    commits: Arc<Mutex<Commits>>,
    consumed: Arc<AtomicU64>,
    producers: Vec<tokio::task::JoinHandle<u64>>,
    members: Vec<JoinHandle<Result<(), String>>>,
}

impl Load {
    pub fn start(bootstrap: &str, topic: &str, group: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let delivered: Vec<_> = (0..PRODUCERS)
            .map(|_| Arc::new(Mutex::new(Vec::new())))
            .collect();
        let commits = Arc::new(Mutex::new(Commits::default()));
        let consumed = Arc::new(AtomicU64::new(0));
        let producers = (0..PRODUCERS)
            .map(|id| {
                let compression = if id % 2 == 0 { "none" } else { "lz4" };
                let producer = common::producer(
                    bootstrap,
                    &[
                        ("acks", "all"),
                        ("message.send.max.retries", "0"),
                        ("message.timeout.ms", "10000"),
                        ("linger.ms", "2"),
                        ("compression.type", compression),
                        ("reconnect.backoff.ms", "50"),
                        ("reconnect.backoff.max.ms", "500"),
                    ],
                );
                tokio::spawn(acknowledged::produce_until_stopped(
                    producer,
                    topic.to_string(),
                    move |seq| (key(id, seq), value(id, seq)),
                    IN_FLIGHT,
                    stop.clone(),
                    delivered[id as usize].clone(),
                ))
            })
            .collect();
        let members = (0..MEMBERS)
            .map(|_| {
                let mut config = common::consumer_config(
                    bootstrap,
                    &[
                        ("group.id", group),
                        ("session.timeout.ms", "10000"),
                        ("heartbeat.interval.ms", "500"),
                        ("reconnect.backoff.ms", "50"),
                        ("reconnect.backoff.max.ms", "500"),
                    ],
                );
                let context = GroupMember::for_config(&mut config);
                let consumer: BaseConsumer<GroupMember> = config
                    .create_with_context(context)
                    .expect("create group member");
                consumer.subscribe(&[topic]).expect("subscribe");
                let (stop, commits, consumed) = (stop.clone(), commits.clone(), consumed.clone());
                std::thread::spawn(move || member(consumer, stop, commits, consumed))
            })
            .collect();
        Load {
            stop,
            delivered,
            commits,
            consumed,
            producers,
            members,
        }
    }

    pub fn acked_records(&self) -> usize {
        self.delivered
            .iter()
            .map(|list| list.lock().expect("delivered list").len())
            .sum()
    }

    pub fn acked_commits(&self) -> usize {
        self.commits.lock().expect("commit log").acknowledged.len()
    }

    /// Waits until `records` more records and at least one more commit are
    /// acknowledged; panics after `timeout` (the clients did not recover).
    pub async fn wait_for_progress(&self, records: usize, timeout: Duration) {
        let (records_before, commits_before) = (self.acked_records(), self.acked_commits());
        let deadline = Instant::now() + timeout;
        while self.acked_records() < records_before + records
            || self.acked_commits() <= commits_before
        {
            assert!(
                Instant::now() < deadline,
                "no progress within {timeout:?}: {} more acknowledged records, {} more commits",
                self.acked_records() - records_before,
                self.acked_commits() - commits_before
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops producing (every record sent gets its delivery report) and
    /// closes the members (they leave the group).
    pub async fn stop(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        let mut sent = 0;
        for producer in self.producers {
            sent += producer.await.expect("producer task");
        }
        // A member stuck in librdkafka must fail the test, not hang it: the
        // wait is bounded, and never on a blocking-pool thread, which the
        // runtime would wait for at the end.
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        for member in self.members {
            while !member.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "a group member did not leave the group and close within {CLOSE_TIMEOUT:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            match member.join() {
                Ok(Ok(())) => {}
                Ok(Err(problem)) => panic!("group member: {problem}"),
                Err(_) => panic!("group member thread panicked"),
            }
        }
        let mut acked = Vec::new();
        for (producer, list) in self.delivered.iter().enumerate() {
            let list = std::mem::take(&mut *list.lock().expect("delivered list"));
            acked.extend(list.into_iter().map(|d| Acked {
                producer: producer as u32,
                seq: d.seq,
                partition: d.partition,
                offset: d.offset,
            }));
        }
        let commits = std::mem::take(&mut *self.commits.lock().expect("commit log"));
        Outcome {
            sent,
            acked,
            commits,
            consumed: self.consumed,
        }
    }
}

/// One group member: checks the bytes of every record it reads, and commits
/// synchronously what it processed, only for partitions it has owned since
/// (a commit for a partition handed to the other member would move that
/// member's offset back).
fn member(
    consumer: BaseConsumer<GroupMember>,
    stop: Arc<AtomicBool>,
    commits: Arc<Mutex<Commits>>,
    consumed: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut processed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut revocations_seen = 0;
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(50));
        // Revocations are served inside poll(): what was processed before
        // one may belong to partitions now owned by the other member, even
        // if the same partitions came back in the same poll.
        let revocations = consumer.context().revocations();
        if revocations != revocations_seen {
            revocations_seen = revocations;
            processed.clear();
        }
        // Errors are transport errors while the broker is down; librdkafka
        // recovers from them.
        if let Some(Ok(message)) = polled {
            let (Some(key), Some(payload)) = (message.key(), message.payload()) else {
                return Err(format!(
                    "record without key or value at {}",
                    message.offset()
                ));
            };
            let expected = parse_key(key).map(|(producer, seq)| value(producer, seq));
            if expected.as_deref() != Some(payload) {
                return Err(format!(
                    "partition {} offset {}: the value does not match key {:?}",
                    message.partition(),
                    message.offset(),
                    String::from_utf8_lossy(key)
                ));
            }
            consumed.fetch_add(1, Ordering::Relaxed);
            processed.insert(
                (message.topic().to_string(), message.partition()),
                message.offset() + 1,
            );
        }
        if last_commit.elapsed() >= COMMIT_EVERY {
            last_commit = Instant::now();
            commit(&consumer, &mut processed, &commits);
        }
    }
    // So that close() has no rebalance for this member to handle.
    leave_group(&consumer, CLOSE_TIMEOUT / 2);
    Ok(())
}

/// Commits `processed` synchronously; on success it is cleared (nothing new
/// to commit), on failure it stays for the next attempt.
fn commit(
    consumer: &BaseConsumer<GroupMember>,
    processed: &mut BTreeMap<(String, i32), i64>,
    commits: &Mutex<Commits>,
) {
    if processed.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in processed.iter() {
        list.add_partition_offset(topic, *partition, Offset::Offset(*next))
            .expect("offset in list");
    }
    let entries: Vec<(i32, i64)> = processed.iter().map(|((_, p), o)| (*p, *o)).collect();
    commits
        .lock()
        .expect("commit log")
        .attempted
        .extend(&entries);
    // librdkafka fails the whole commit when any partition failed.
    if consumer.commit(&list, CommitMode::Sync).is_ok() {
        commits
            .lock()
            .expect("commit log")
            .acknowledged
            .extend(&entries);
        processed.clear();
    }
}
