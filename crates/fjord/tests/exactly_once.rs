//! Exactly once through failures with librdkafka: a transactional
//! consume-transform-produce loop (read_committed input,
//! send_offsets_to_transaction, commit) ends with output equal to a function
//! of the input, no duplicate, nothing lost: against any broker as it is,
//! and (the real binary) through several kill -9s of its broker, after each
//! of which the application starts again from its group's committed offsets
//! when its clients fail: one kill while a transaction's records are written
//! and its offsets not yet sent, one with both done and the commit not yet
//! asked for, one at a random moment.
//! The kill -9 one is skipped against FJORD_TEST_BOOTSTRAP.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::transactional::{read_partition, READ_COMMITTED, READ_UNCOMMITTED};
use common::{AnyBroker, BinaryBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: usize = 3000;

/// The loop's deterministic function of an input record.
fn transform(value: &[u8]) -> Vec<u8> {
    let mut out = b"out:".to_vec();
    out.extend(value.iter().rev());
    out
}

const INPUT_PARTITIONS: i32 = 2;
/// Records per transaction at most: the input takes some 30 transactions,
/// enough for the kills to land inside some of them.
const BATCH: usize = 100;
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// One run of the consume-transform-produce application: a transactional
/// producer and a read_committed consumer of `group` that starts from the
/// group's committed offsets. Returns when the committed offsets reach
/// `ends`; an error ends the instance (the caller starts a new one, as an
/// application restarted after a failure).
fn run_instance(
    bootstrap: &str,
    (input, output, group, txn_id): (&str, &str, &str, &str),
    ends: &[i64],
    progress: &Progress,
) -> Result<(), String> {
    let producer: BaseProducer = common::producer_config(
        bootstrap,
        &[
            ("transactional.id", txn_id),
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "10000"),
            ("reconnect.backoff.ms", "20"),
            ("reconnect.backoff.max.ms", "200"),
        ],
    )
    .create()
    .map_err(|e| format!("create producer: {e}"))?;
    producer
        .init_transactions(STEP_TIMEOUT)
        .map_err(|e| format!("init_transactions: {e}"))?;
    let consumer: BaseConsumer = common::consumer_config(
        bootstrap,
        &[("group.id", group), ("isolation.level", "read_committed")],
    )
    .create()
    .map_err(|e| format!("create consumer: {e}"))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..INPUT_PARTITIONS {
        assignment
            .add_partition_offset(input, p, Offset::Stored)
            .map_err(|e| format!("{e}"))?;
    }
    let committed = consumer
        .committed_offsets(assignment.clone(), STEP_TIMEOUT)
        .map_err(|e| format!("OffsetFetch: {e}"))?;
    let mut next: Vec<i64> = (0..INPUT_PARTITIONS)
        .map(
            |p| match committed.find_partition(input, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            },
        )
        .collect();
    progress
        .committed
        .store(next.iter().sum::<i64>() as u64, Ordering::Relaxed);
    consumer
        .assign(&assignment)
        .map_err(|e| format!("assign: {e}"))?;
    let metadata = consumer.group_metadata().ok_or("no group metadata")?;
    while next != ends {
        let mut batch = Vec::with_capacity(BATCH);
        let until = Instant::now() + Duration::from_millis(200);
        while batch.len() < BATCH && Instant::now() < until {
            if let Some(message) = consumer.poll(Duration::from_millis(20)) {
                let message = message.map_err(|e| format!("consume: {e}"))?;
                batch.push((
                    message.partition(),
                    message.offset(),
                    transform(message.payload().unwrap_or_default()),
                ));
            }
        }
        if batch.is_empty() {
            continue;
        }
        producer
            .begin_transaction()
            .map_err(|e| format!("begin: {e}"))?;
        let mut offsets = TopicPartitionList::new();
        for (partition, offset, value) in &batch {
            let mut record = BaseRecord::<(), Vec<u8>>::to(output)
                .partition(*partition)
                .payload(value);
            while let Err((e, back)) = producer.send(record) {
                if !matches!(
                    e.rdkafka_error_code(),
                    Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                ) {
                    return Err(format!("produce: {e}"));
                }
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            offsets
                .add_partition_offset(input, *partition, Offset::Offset(offset + 1))
                .map_err(|e| format!("{e}"))?;
        }
        producer
            .flush(STEP_TIMEOUT)
            .map_err(|e| format!("flush: {e}"))?;
        progress.at(Moment::RecordsWritten)?;
        producer
            .send_offsets_to_transaction(&offsets, &metadata, STEP_TIMEOUT)
            .map_err(|e| format!("send_offsets_to_transaction: {e}"))?;
        progress.at(Moment::OffsetsSent)?;
        producer
            .commit_transaction(STEP_TIMEOUT)
            .map_err(|e| format!("commit: {e}"))?;
        for (partition, offset, _) in &batch {
            next[*partition as usize] = next[*partition as usize].max(offset + 1);
        }
        progress
            .committed
            .store(next.iter().sum::<i64>() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// A moment in the loop's transaction at which the broker can be killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moment {
    /// The transaction's records are written (flushed), its offsets not sent.
    RecordsWritten,
    /// Its offsets are sent too, the commit not yet asked for.
    OffsetsSent,
    /// Whenever the kill comes: polling, producing, committing.
    Anywhere,
}

/// What the application does when the broker it stopped for is back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Goes on with its clients (they reconnect).
    GoesOn,
    /// Is restarted too, its transaction left open: the new instance's
    /// InitProducerId must abort it, and its records stay invisible.
    Restarts,
}

/// How far the loop is, and a kill it is asked to stop for: the loop waits
/// at the wanted moment until the broker has been killed and restarted.
#[derive(Default)]
struct Progress {
    /// Input records whose transaction committed.
    committed: AtomicU64,
    kill: Mutex<KillPoint>,
    turn: Condvar,
}

#[derive(Default)]
struct KillPoint {
    wanted: Option<Moment>,
    reached: bool,
    then: Option<Then>,
}

impl Progress {
    /// The loop is at `moment`: if a kill is wanted there, waits for it;
    /// an error when the application is to be restarted after it.
    fn at(&self, moment: Moment) -> Result<(), String> {
        let mut point = self.kill.lock().expect("kill point");
        if point.wanted != Some(moment) {
            return Ok(());
        }
        point.reached = true;
        self.turn.notify_all();
        while point.then.is_none() {
            point = self.turn.wait(point).expect("kill point");
        }
        let then = point.then;
        *point = KillPoint::default();
        match then {
            Some(Then::Restarts) => Err(format!("restarted by the test at {moment:?}")),
            _ => Ok(()),
        }
    }

    /// Asks the loop to stop at `moment`; true once it has, false if it
    /// finished first.
    fn stop_at(&self, moment: Moment, finished: &AtomicBool) -> bool {
        let mut point = self.kill.lock().expect("kill point");
        *point = KillPoint {
            wanted: Some(moment),
            ..KillPoint::default()
        };
        while !point.reached {
            if finished.load(Ordering::Relaxed) {
                *point = KillPoint::default();
                return false;
            }
            point = self
                .turn
                .wait_timeout(point, Duration::from_millis(10))
                .expect("kill point")
                .0;
        }
        true
    }

    /// Lets the loop go on from where it stopped, as `then` says.
    fn resume(&self, then: Then) {
        let mut point = self.kill.lock().expect("kill point");
        if point.reached {
            point.then = Some(then);
        }
        self.turn.notify_all();
    }
}

/// The loop's input and output topics and what the input holds.
struct Pipeline {
    input: String,
    output: String,
    group: String,
    transactional_id: String,
    /// Input values per partition, in offset order.
    inputs: Vec<Vec<Vec<u8>>>,
}

impl Pipeline {
    /// Creates the topics and writes `RECORDS` input records (not
    /// transactional: the input's offsets are 0..n per partition).
    async fn create(bootstrap: &str) -> Pipeline {
        let pipeline = Pipeline {
            input: common::unique_topic("eos-in"),
            output: common::unique_topic("eos-out"),
            group: common::unique_topic("eos-group"),
            transactional_id: common::unique_topic("eos-txn"),
            inputs: vec![Vec::new(); INPUT_PARTITIONS as usize],
        };
        common::create_topic(bootstrap, &pipeline.input, INPUT_PARTITIONS, &[]).await;
        common::create_topic(bootstrap, &pipeline.output, INPUT_PARTITIONS, &[]).await;
        let producer = common::producer(
            bootstrap,
            &[("enable.idempotence", "true"), ("acks", "all")],
        );
        let mut pipeline = pipeline;
        let mut deliveries = Vec::with_capacity(RECORDS);
        for i in 0..RECORDS {
            let partition = (i % INPUT_PARTITIONS as usize) as i32;
            let value = format!("in-{partition}-{i}").into_bytes();
            let record = FutureRecord::<(), _>::to(&pipeline.input)
                .partition(partition)
                .payload(&value);
            deliveries.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("queue input record"),
            );
            pipeline.inputs[partition as usize].push(value);
        }
        for (i, delivery) in deliveries.into_iter().enumerate() {
            let report = delivery.await.expect("delivery future");
            assert!(report.is_ok(), "input record {i}: {report:?}");
        }
        pipeline
    }

    fn ends(&self) -> Vec<i64> {
        self.inputs.iter().map(|p| p.len() as i64).collect()
    }

    /// Runs application instances until one has committed the whole input,
    /// reporting to `progress`. Returns how many instances it took.
    async fn process(&self, bootstrap: &str, progress: Arc<Progress>) -> usize {
        let bootstrap = bootstrap.to_string();
        let names = (
            self.input.clone(),
            self.output.clone(),
            self.group.clone(),
            self.transactional_id.clone(),
        );
        let ends = self.ends();
        common::blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(180);
            let names = (
                names.0.as_str(),
                names.1.as_str(),
                names.2.as_str(),
                names.3.as_str(),
            );
            for instance in 1.. {
                match run_instance(&bootstrap, names, &ends, &progress) {
                    Ok(()) => return instance,
                    Err(e) => eprintln!("application instance {instance} stopped: {e}"),
                }
                assert!(
                    Instant::now() < deadline,
                    "the input not processed within 180 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            unreachable!("instances are counted without end")
        })
        .await
    }

    /// The group's offsets are the input's ends, and each output partition
    /// read_committed is the transform of its input partition, in order.
    async fn check_output(&self, bootstrap: &str) {
        let committed = common::acknowledged::committed_offsets(
            bootstrap,
            &self.group,
            &self.input,
            INPUT_PARTITIONS,
        )
        .await;
        let ends = self
            .ends()
            .into_iter()
            .enumerate()
            .map(|(p, end)| (p as i32, end))
            .collect();
        assert_eq!(committed, ends, "the group's offsets are the input's ends");
        for (partition, values) in self.inputs.iter().enumerate() {
            let want: Vec<Vec<u8>> = values.iter().map(|v| transform(v)).collect();
            let read = read_partition(
                bootstrap,
                &self.output,
                partition as i32,
                READ_COMMITTED,
                want.len(),
                Duration::from_secs(1),
            )
            .await;
            let got: Vec<Vec<u8>> = read
                .iter()
                .map(|r| r.value.clone().unwrap_or_default())
                .collect();
            assert_eq!(
                got.len(),
                want.len(),
                "output partition {partition}: records read_committed"
            );
            if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "output partition {partition} record {i}: {:?}, wanted {:?} (the transform of input {i})",
                    String::from_utf8_lossy(&got[i]),
                    String::from_utf8_lossy(&want[i])
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn consume_transform_produce_commits_each_output_once() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let pipeline = Pipeline::create(&bootstrap).await;
    let instances = pipeline.process(&bootstrap, Arc::default()).await;
    assert_eq!(instances, 1, "nothing failed, so one instance did it all");
    pipeline.check_output(&bootstrap).await;
}

/// Kills the broker -9 and starts it again on the same address and data
/// once the loop has committed each share (%) of the input, at the moment
/// of a transaction given with it (`Moment::Anywhere`: a random moment
/// after), the application then going on or restarting. Returns the kills
/// made.
fn kill_along(
    broker: Arc<Mutex<Option<BinaryBroker>>>,
    (listen, data): (String, PathBuf),
    plan: &'static [(u64, Moment, Then)],
    progress: Arc<Progress>,
    finished: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Moment, Then)>> {
    std::thread::spawn(move || {
        let mut kills = Vec::new();
        for &(share, moment, then) in plan {
            while progress.committed.load(Ordering::Relaxed) < RECORDS as u64 * share / 100 {
                if finished.load(Ordering::Relaxed) {
                    return kills;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if moment == Moment::Anywhere {
                std::thread::sleep(Duration::from_millis(fastrand::u64(0..60)));
            } else if !progress.stop_at(moment, &finished) {
                return kills;
            }
            let mut running = broker.lock().expect("broker lock");
            if let Some(old) = running.take() {
                old.kill9();
            }
            *running = Some(BinaryBroker::start_listening(&listen, &data, &[]));
            progress.resume(then);
            kills.push((moment, then));
        }
        kills
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn consume_transform_produce_through_kill_9s_commits_each_output_once() {
    if common::skipped_for_external("kills and restarts its broker") {
        return;
    }
    common::init_logging();
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", common::free_port());
    let broker = BinaryBroker::start_listening(&listen, data.path(), &[]);
    let bootstrap = broker.bootstrap.clone();
    let pipeline = Pipeline::create(&bootstrap).await;
    let (progress, finished) = (
        Arc::new(Progress::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let broker = Arc::new(Mutex::new(Some(broker)));
    let killer = kill_along(
        broker.clone(),
        (listen, data.path().to_path_buf()),
        &[
            (15, Moment::RecordsWritten, Then::GoesOn),
            (35, Moment::OffsetsSent, Then::GoesOn),
            (55, Moment::RecordsWritten, Then::Restarts),
            (75, Moment::Anywhere, Then::GoesOn),
        ],
        progress.clone(),
        finished.clone(),
    );
    let instances = pipeline.process(&bootstrap, progress).await;
    finished.store(true, Ordering::Relaxed);
    let kills = killer.join().expect("killer thread");
    eprintln!("{RECORDS} input records through kill -9s at {kills:?} and {instances} application instances");
    assert_eq!(
        kills.len(),
        4,
        "the broker was killed four times during the loop"
    );
    assert!(
        instances >= 2,
        "the application was restarted once at least"
    );
    pipeline.check_output(&bootstrap).await;
    // The restarted application's open transaction was aborted: its records
    // are in the output's log, where read_uncommitted sees them.
    let mut uncommitted = 0;
    for partition in 0..INPUT_PARTITIONS {
        let records = pipeline.inputs[partition as usize].len();
        let settle = Duration::from_secs(1);
        uncommitted += read_partition(
            &bootstrap,
            &pipeline.output,
            partition,
            READ_UNCOMMITTED,
            records,
            settle,
        )
        .await
        .len();
    }
    assert!(
        uncommitted > RECORDS,
        "{uncommitted} records read_uncommitted: none aborted"
    );
    drop(broker);
}
