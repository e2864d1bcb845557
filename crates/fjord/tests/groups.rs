//! Consumer groups through rdkafka: partitions split and moved, members
//! closed or killed, sync commits surviving a restart, static members,
//! cooperative-sticky, and committed offsets surviving kill -9.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{acknowledged, AnyBroker, BinaryBroker, TestBroker, WAIT};
use fjord_testkit::group_member::GroupMember;
use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, Rebalance};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;

/// The tests make their topics with PARTITIONS partitions; an external
/// broker needs only the suite's defaults.
async fn broker() -> AnyBroker {
    match common::external_bootstrap() {
        Some(bootstrap) => AnyBroker::External(bootstrap),
        None => AnyBroker::Fjord(own_broker().await),
    }
}

async fn own_broker() -> TestBroker {
    TestBroker::start(&[
        ("num.partitions", "6"),
        ("group.initial.rebalance.delay.ms", "0"),
    ])
    .await
}

/// Produces `count` records spread over every partition; returns them as
/// (partition, offset).
async fn produce(bootstrap: &str, topic: &str, count: usize) -> BTreeSet<(i32, i64)> {
    let producer = common::producer(bootstrap, &[("acks", "all")]);
    let payloads: Vec<String> = (0..count).map(|i| format!("record {i}")).collect();
    let sends = payloads.iter().enumerate().map(|(i, payload)| {
        let record = FutureRecord::<(), _>::to(topic)
            .partition(i as i32 % PARTITIONS)
            .payload(payload);
        producer.send(record, Timeout::After(WAIT))
    });
    join_all(sends)
        .await
        .into_iter()
        .map(|d| {
            let d = d.unwrap_or_else(|(e, _)| panic!("delivery: {e}"));
            (d.partition, d.offset)
        })
        .collect()
}

/// Counts rebalance callbacks and remembers revoked partition counts.
#[derive(Default)]
struct Events {
    assigns: AtomicUsize,
    revokes: Mutex<Vec<usize>>,
}

impl Events {
    fn observe(&self, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) if tpl.count() > 0 => {
                self.assigns.fetch_add(1, Ordering::SeqCst);
            }
            Rebalance::Revoke(tpl) => {
                if let Ok(mut revokes) = self.revokes.lock() {
                    revokes.push(tpl.count());
                }
            }
            _ => {}
        }
    }
}

/// A group member polling on its own thread, committing each record
/// synchronously.
struct Member {
    stop: Arc<AtomicBool>,
    assignment: Arc<Mutex<Vec<i32>>>,
    /// (partition, offset, commit succeeded)
    consumed: Arc<Mutex<Vec<(i32, i64, bool)>>>,
    events: Arc<Events>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(bootstrap: &str, group: &str, topic: &str, extra: &[(&str, &str)]) -> Member {
        let mut config = common::consumer_config(
            bootstrap,
            &[
                ("group.id", group),
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "500"),
                ("enable.auto.commit", "false"),
            ],
        );
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let events = Arc::new(Events::default());
        let observer = events.clone();
        let context = GroupMember::for_config(&mut config)
            .observed(move |rebalance| observer.observe(rebalance));
        let consumer: BaseConsumer<GroupMember> = config
            .create_with_context(context)
            .expect("create consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let consumed = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, assignment, consumed) = (stop.clone(), assignment.clone(), consumed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                        let ok = consumer.commit_message(&message, CommitMode::Sync).is_ok();
                        let entry = (message.partition(), message.offset(), ok);
                        consumed.lock().expect("lock").push(entry);
                    }
                    if let Ok(tpl) = consumer.assignment() {
                        let mut parts: Vec<i32> =
                            tpl.elements().iter().map(|e| e.partition()).collect();
                        parts.sort();
                        *assignment.lock().expect("lock") = parts;
                    }
                }
                // Dropping the consumer closes it: LeaveGroup for dynamic members.
                drop(consumer);
            })
        };
        Member {
            stop,
            assignment,
            consumed,
            events,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> Vec<i32> {
        self.assignment.lock().expect("lock").clone()
    }

    fn consumed(&self) -> Vec<(i32, i64, bool)> {
        self.consumed.lock().expect("lock").clone()
    }

    /// Stops polling and closes the consumer.
    async fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            common::blocking(move || thread.join().expect("member thread")).await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Waits until the members' assignments are disjoint, cover every partition
/// and have the given sizes (in any order).
async fn wait_for_split(members: &[&Member], sizes: &[usize], timeout: Duration) {
    let mut want: Vec<usize> = sizes.to_vec();
    want.sort();
    common::wait_for("partitions split across the group", timeout, || {
        let assignments: Vec<Vec<i32>> = members.iter().map(|m| m.assignment()).collect();
        let mut got: Vec<usize> = assignments.iter().map(Vec::len).collect();
        got.sort();
        let all: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
        let total: usize = got.iter().sum();
        let done = got == want && all.len() == PARTITIONS as usize && total == all.len();
        async move { done.then_some(()) }
    })
    .await;
}

/// Waits until every produced record was consumed by some member.
async fn wait_for_all(members: &[&Member], produced: &BTreeSet<(i32, i64)>) {
    wait_for_all_beyond(members, &[], produced).await
}

/// Like `wait_for_all`, counting also records that members which have since
/// left consumed (and committed) before them.
async fn wait_for_all_beyond(
    members: &[&Member],
    consumed_by_departed: &[(i32, i64, bool)],
    produced: &BTreeSet<(i32, i64)>,
) {
    common::wait_for("every record consumed", WAIT, || {
        let seen: BTreeSet<(i32, i64)> = members
            .iter()
            .flat_map(|m| m.consumed())
            .chain(consumed_by_departed.iter().copied())
            .map(|(p, o, _)| (p, o))
            .collect();
        let done = produced.is_subset(&seen);
        async move { done.then_some(()) }
    })
    .await;
}

/// No record consumed twice, except one whose commit was refused (a commit
/// racing a rebalance): that one may legitimately come again.
fn assert_no_duplicates(consumed: &[(i32, i64, bool)]) {
    let mut seen: BTreeMap<(i32, i64), Vec<bool>> = BTreeMap::new();
    for (p, o, ok) in consumed {
        seen.entry((*p, *o)).or_default().push(*ok);
    }
    for (record, commits) in seen {
        if commits.len() > 1 {
            assert!(
                !commits[..commits.len() - 1].iter().any(|ok| *ok),
                "record {record:?} consumed {} times after a successful commit",
                commits.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_split_partitions_and_a_closed_ones_move() {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("split");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let mut produced = produce(&bootstrap, &topic, 300).await;

    let a = Member::start(&bootstrap, "split-group", &topic, &[]);
    let b = Member::start(&bootstrap, "split-group", &topic, &[]);
    let c = Member::start(&bootstrap, "split-group", &topic, &[]);
    wait_for_split(&[&a, &b, &c], &[2, 2, 2], WAIT).await;
    wait_for_all(&[&a, &b, &c], &produced).await;

    let c_consumed = c.consumed();
    c.close().await;
    wait_for_split(&[&a, &b], &[3, 3], WAIT).await;
    produced.extend(produce(&bootstrap, &topic, 300).await);
    // Records c consumed and committed are not read again by a and b.
    wait_for_all_beyond(&[&a, &b], &c_consumed, &produced).await;

    let mut everything: Vec<(i32, i64, bool)> = a.consumed();
    everything.extend(b.consumed());
    everything.extend(c_consumed);
    let seen: BTreeSet<(i32, i64)> = everything.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(seen, produced);
    assert_no_duplicates(&everything);
    a.close().await;
    b.close().await;
}

/// In a child process: a group member that polls until it is killed.
#[test]
fn child_consumer() {
    let Ok(spec) = std::env::var("FJORD_GROUP_CHILD") else {
        return; // only runs as the child of killed_member_partitions_move
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let [bootstrap, group, topic] = parts[..] else {
        panic!("FJORD_GROUP_CHILD is bootstrap,group,topic");
    };
    let consumer: BaseConsumer = common::consumer_config(
        bootstrap,
        &[
            ("group.id", group),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create()
    .expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_member_partitions_move_within_the_session_timeout() {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("killed");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let a = Member::start(&bootstrap, "killed-group", &topic, &[]);
    let b = Member::start(&bootstrap, "killed-group", &topic, &[]);
    wait_for_split(&[&a, &b], &[3, 3], WAIT).await;

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_consumer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(
            "FJORD_GROUP_CHILD",
            format!("{bootstrap},killed-group,{topic}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child consumer");
    // The child holds two partitions once a and b are down to four.
    common::wait_for("the child to join", WAIT, || {
        let n = a.assignment().len() + b.assignment().len();
        async move { (n == 4).then_some(()) }
    })
    .await;
    child.kill().expect("kill -9 the child consumer");
    child.wait().expect("reap the child");
    let killed = Instant::now();
    // No LeaveGroup: the broker notices after session.timeout.ms (6 s).
    wait_for_split(&[&a, &b], &[3, 3], Duration::from_secs(20)).await;
    let moved = killed.elapsed();
    assert!(
        moved >= Duration::from_secs(4),
        "moved after {moved:?}: before the session could expire?"
    );
    assert!(
        moved < Duration::from_secs(15),
        "moved only after {moved:?}"
    );

    let produced = produce(&bootstrap, &topic, 120).await;
    wait_for_all(&[&a, &b], &produced).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_consumption_resumes() {
    if common::skipped_for_external("restarts its broker") {
        return;
    }
    let mut broker = own_broker().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("resume");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let first = produce(&bootstrap, &topic, 180).await;
    let a = Member::start(&bootstrap, "resume-group", &topic, &[]);
    wait_for_all(&[&a], &first).await;
    a.close().await;
    let before =
        acknowledged::committed_offsets(&bootstrap, "resume-group", &topic, PARTITIONS).await;
    assert_eq!(
        before.values().sum::<i64>(),
        180,
        "30 records committed per partition: {before:?}"
    );

    broker.restart().await;
    let bootstrap = broker.bootstrap();
    assert_eq!(
        acknowledged::committed_offsets(&bootstrap, "resume-group", &topic, PARTITIONS).await,
        before
    );
    let second = produce(&bootstrap, &topic, 60).await;
    let b = Member::start(&bootstrap, "resume-group", &topic, &[]);
    wait_for_all(&[&b], &second).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: BTreeSet<(i32, i64)> = b.consumed().iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(again, second, "resumed exactly after the committed offsets");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_members_rejoin_without_a_rebalance() {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("static");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let statics = |id: &'static str| [("group.instance.id", id), ("session.timeout.ms", "30000")];
    let a = Member::start(&bootstrap, "static-group", &topic, &statics("a"));
    let b = Member::start(&bootstrap, "static-group", &topic, &statics("b"));
    wait_for_split(&[&a, &b], &[3, 3], WAIT).await;
    // Settle: no rebalance in flight.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a_partitions = a.assignment();
    let b_partitions = b.assignment();
    let b_rebalances = b.events.assigns.load(Ordering::SeqCst);
    // Counted from here: whichever member's first JoinGroup arrives first
    // forms a generation alone and gives partitions up when the other joins
    // (as with Kafka); that is not what this test is about.
    let b_revokes = b.events.revokes.lock().expect("lock").len();

    // A static member closing sends no LeaveGroup; its successor takes over.
    a.close().await;
    let a2 = Member::start(&bootstrap, "static-group", &topic, &statics("a"));
    common::wait_for("the static member back", WAIT, || {
        let back = a2.assignment() == a_partitions;
        async move { back.then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.assignment(), b_partitions);
    assert_eq!(
        b.events.assigns.load(Ordering::SeqCst),
        b_rebalances,
        "the other member saw no rebalance"
    );
    assert_eq!(
        b.events.revokes.lock().expect("lock").len(),
        b_revokes,
        "the other member gave up no partitions"
    );
    a2.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_rebalances_incrementally() {
    let broker = broker().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("coop");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let a = Member::start(&bootstrap, "coop-group", &topic, &coop);
    wait_for_split(&[&a], &[6], WAIT).await;
    let b = Member::start(&bootstrap, "coop-group", &topic, &coop);
    wait_for_split(&[&a, &b], &[3, 3], WAIT).await;
    let revokes = a.events.revokes.lock().expect("lock").clone();
    assert!(!revokes.is_empty(), "a gave up partitions");
    assert!(
        revokes.iter().all(|n| *n < PARTITIONS as usize),
        "incremental: a never revoked everything ({revokes:?})"
    );
    let produced = produce(&bootstrap, &topic, 120).await;
    wait_for_all(&[&a, &b], &produced).await;
    let mut everything = a.consumed();
    everything.extend(b.consumed());
    assert_no_duplicates(&everything);
    a.close().await;
    b.close().await;
}

/// Commits offsets as a standalone consumer, forever, recording in `acked`
/// the last offset acknowledged per partition. (After the broker dies a
/// sync commit may block indefinitely: the thread is left behind.)
fn commit_forever(
    bootstrap: &str,
    group: &str,
    topic: &str,
    acked: Arc<Mutex<BTreeMap<i32, i64>>>,
) {
    let consumer: BaseConsumer = common::consumer_config(bootstrap, &[("group.id", group)])
        .create()
        .expect("create consumer");
    for next in 1i64.. {
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, Offset::Offset(next))
                .expect("add partition");
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                let mut acked = acked.lock().expect("lock");
                for p in 0..PARTITIONS {
                    acked.insert(p, next);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_kill_9() {
    if common::skipped_for_external("kills its broker (kill -9) and starts it again") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = [
        ("num.partitions", "6"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    let fjord = BinaryBroker::start(dir.path(), &overrides);
    let bootstrap = fjord.bootstrap.clone();
    let topic = common::unique_topic("kill9");
    common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;

    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    {
        let (bootstrap, topic, acked) = (bootstrap.clone(), topic.clone(), acked.clone());
        std::thread::spawn(move || commit_forever(&bootstrap, "kill9-group", &topic, acked));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fjord.kill9();
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.values().all(|o| *o > 10),
        "commits were flowing: {acked:?}"
    );

    let fjord = BinaryBroker::start(dir.path(), &overrides);
    let after =
        acknowledged::committed_offsets(&fjord.bootstrap, "kill9-group", &topic, PARTITIONS).await;
    for (p, offset) in &acked {
        let stored = after.get(p).copied().unwrap_or(-1);
        assert!(
            stored >= *offset,
            "partition {p}: acknowledged {offset}, stored {stored}"
        );
    }
    fjord.terminate();
}
