//! Shared helpers for Fjord's integration tests: brokers (in-process and the
//! real binary), client config builders and consume helpers.
//!
//! Each test file includes this with `mod common;`; not every file uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod acknowledged;
pub mod acl_admin;
pub mod proxy;
pub mod raw;
pub mod sasl_clients;
pub mod transactional;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fjord_broker::{BrokerConfig, RunningBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, Timestamp, TopicPartitionList};

/// How long helpers wait for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(30);

/// Logs from the broker when `FJORD_TEST_LOG` is set (e.g. `debug`).
pub fn init_logging() {
    if let Ok(filter) = std::env::var("FJORD_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A topic name unique within this test process, and (with the process
/// id) among the test binaries that share one external broker.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------
// Any broker (FJORD_TEST_BOOTSTRAP)
// ---------------------------------------------------------------------------

/// `FJORD_TEST_BOOTSTRAP=host:port` runs the tests that only need a running
/// broker against that one (Apache Kafka, in scripts/test-all's reference
/// stage) instead of a Fjord they start. It must have the suite's broker
/// defaults: auto-create on, `num.partitions=4`,
/// `group.initial.rebalance.delay.ms=0`, node id 1.
pub const BOOTSTRAP_ENV: &str = "FJORD_TEST_BOOTSTRAP";

pub fn external_bootstrap() -> Option<String> {
    std::env::var(BOOTSTRAP_ENV).ok().filter(|b| !b.is_empty())
}

/// True, after saying so on the terminal (past the test harness's output
/// capture, so a skip is seen), when an external broker is set and this
/// test needs a broker of its own: `reason` says why.
pub fn skipped_for_external(reason: &str) -> bool {
    if external_bootstrap().is_none() {
        return false;
    }
    say_skipped("", reason);
    true
}

/// Says on the terminal that (`part` of) the running test is skipped
/// against the external broker, and why.
pub fn say_skipped(part: &str, reason: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let bootstrap = external_bootstrap().unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "skipped {part}{test} against {BOOTSTRAP_ENV}={bootstrap}: {reason}"
    );
}

/// A running broker with the suite's defaults: the external one when
/// `FJORD_TEST_BOOTSTRAP` is set, else a Fjord started in process.
pub enum AnyBroker {
    Fjord(TestBroker),
    External(String),
}

impl AnyBroker {
    pub async fn start() -> AnyBroker {
        match external_bootstrap() {
            Some(bootstrap) => AnyBroker::External(bootstrap),
            None => AnyBroker::Fjord(TestBroker::start(&[]).await),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            AnyBroker::Fjord(broker) => broker.bootstrap(),
            AnyBroker::External(bootstrap) => bootstrap.clone(),
        }
    }

    /// The Fjord in process, for checks of its state beyond what clients
    /// see (None against an external broker).
    pub fn fjord(&self) -> Option<&TestBroker> {
        match self {
            AnyBroker::Fjord(broker) => Some(broker),
            AnyBroker::External(_) => None,
        }
    }

    /// The Fjord in process, to restart it (None against an external
    /// broker, after saying that `part` of the test is skipped).
    pub fn fjord_to_restart(&mut self, part: &str) -> Option<&mut TestBroker> {
        match self {
            AnyBroker::Fjord(broker) => Some(broker),
            AnyBroker::External(_) => {
                say_skipped(part, "it restarts the broker");
                None
            }
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// In-process broker
// ---------------------------------------------------------------------------

/// An in-process broker on an ephemeral loopback port with its data in a temp
/// dir, restartable on the same dir (it gets a new port each start).
pub struct TestBroker {
    dir: tempfile::TempDir,
    settings: Vec<(String, String)>,
    running: Option<RunningBroker>,
}

impl TestBroker {
    /// Starts with `num.partitions=4` and a 100 ms retention check, plus `settings`.
    pub async fn start(settings: &[(&str, &str)]) -> TestBroker {
        init_logging();
        let mut all: Vec<(String, String)> = vec![
            ("num.partitions".into(), "4".into()),
            ("log.retention.check.interval.ms".into(), "100".into()),
        ];
        all.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut broker = TestBroker {
            dir,
            settings: all,
            running: None,
        };
        broker.boot().await;
        broker
    }

    fn config(&self) -> BrokerConfig {
        let mut config = BrokerConfig::for_tests(self.dir.path());
        for (name, value) in &self.settings {
            config = config.with(name, value);
        }
        config
    }

    async fn boot(&mut self) {
        let running = fjord_broker::start(self.config())
            .await
            .expect("broker starts");
        self.running = Some(running);
    }

    pub fn running(&self) -> &RunningBroker {
        self.running.as_ref().expect("broker is running")
    }

    pub fn bootstrap(&self) -> String {
        self.running().bootstrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The topics as the broker holds them.
    pub fn topics(&self) -> &fjord_broker::topics::TopicRegistry {
        &self.running().broker().topics
    }

    /// Clean shutdown (flush), then start again on the same data dir.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

// ---------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------

/// The `fjord` binary serving on an ephemeral port. Killed on drop.
pub struct BinaryBroker {
    child: Child,
    pub bootstrap: String,
    pub data_dir: PathBuf,
    /// Every line it has written to stderr so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A loopback port nothing listens on now, so a restarted broker can take
/// the same address and clients reconnect to it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address").port()
}

/// `fjord serve` with no settings, logging to a piped stderr.
pub fn bare_serve_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .arg("serve")
        .env("NO_COLOR", "1")
        .env("FJORD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn serve_command(listen: &str, data_dir: &Path, overrides: &[(&str, &str)]) -> Command {
    let mut command = bare_serve_command();
    command
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir);
    for (name, value) in overrides {
        command.arg("--override").arg(format!("{name}={value}"));
    }
    command
}

impl BinaryBroker {
    /// Starts `fjord serve` on 127.0.0.1:0 and waits for its "listening" line.
    pub fn start(data_dir: &Path, overrides: &[(&str, &str)]) -> BinaryBroker {
        BinaryBroker::start_listening("127.0.0.1:0", data_dir, overrides)
    }

    /// Starts `fjord serve` on `listen` (a fixed port lets clients outlive
    /// a restart) and waits for its "listening" line.
    pub fn start_listening(
        listen: &str,
        data_dir: &Path,
        overrides: &[(&str, &str)],
    ) -> BinaryBroker {
        Self::spawn(serve_command(listen, data_dir, overrides), data_dir)
    }

    /// As `start`, with the open-file limit (soft and hard) set to `limit`,
    /// as on a machine whose handles run out.
    pub fn start_with_file_limit(
        data_dir: &Path,
        overrides: &[(&str, &str)],
        limit: u64,
    ) -> BinaryBroker {
        use std::os::unix::process::CommandExt;
        let mut command = serve_command("127.0.0.1:0", data_dir, overrides);
        // SAFETY: setrlimit is async-signal-safe and only reads the struct
        // on this (child) stack.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(command, data_dir)
    }

    /// Starts `command` (from `bare_serve_command`), which keeps its data in
    /// `data_dir`, and waits for its "listening" line.
    pub fn start_command(command: Command, data_dir: &Path) -> BinaryBroker {
        Self::spawn(command, data_dir)
    }

    fn spawn(mut command: Command, data_dir: &Path) -> BinaryBroker {
        let mut child = command.spawn().expect("spawn fjord binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Keep draining stderr for the child's whole life so it never blocks.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[fjord] {line}");
                if !sent {
                    if let Some(addr) = listening_address(&line) {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                kept.lock().expect("log lock").push(line);
            }
        });
        let bootstrap = match rx.recv_timeout(WAIT) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                panic!("fjord did not log its listening address: {e}");
            }
        };
        BinaryBroker {
            child,
            bootstrap,
            data_dir: data_dir.to_path_buf(),
            log,
        }
    }

    /// The stderr lines so far that contain `needle`.
    pub fn logged(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9 fjord");
        self.child.wait().expect("reap fjord");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait fjord") {
                assert!(status.success(), "fjord exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "fjord did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `fjord serve` on `data_dir` expecting it to refuse to start: it must
/// exit with a failure status within [`WAIT`] and never listen. Returns its
/// stderr (the reason it gave).
pub fn binary_refuses_to_start(data_dir: &Path, overrides: &[(&str, &str)]) -> String {
    let mut command = serve_command("127.0.0.1:0", data_dir, overrides);
    let mut child = command.spawn().expect("spawn fjord binary");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait fjord") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fjord kept running on {}", data_dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr)
        .expect("read fjord stderr");
    eprintln!("[fjord refused] {stderr}");
    assert!(!status.success(), "fjord exited successfully: {stderr}");
    assert!(
        listening_address(&stderr).is_none(),
        "fjord listened before exiting: {stderr}"
    );
    stderr
}

impl Drop for BinaryBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `... fjord listening on 127.0.0.1:PORT, data in ...` → `127.0.0.1:PORT`.
fn listening_address(line: &str) -> Option<String> {
    let rest = &line[line.find("fjord listening on ")? + "fjord listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

fn client_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "10000");
    for (name, value) in extra {
        config.set(*name, *value);
    }
    config
}

/// Config for a producer: no idempotence (no InitProducerId yet), short linger.
pub fn producer_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = client_config(
        bootstrap,
        &[
            ("enable.idempotence", "false"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "30000"),
        ],
    );
    for (name, value) in extra {
        config.set(*name, *value);
    }
    config
}

/// A Metadata request for one topic through the producer's client (which
/// auto-creates it when the broker allows).
pub async fn topic_metadata(producer: &FutureProducer, topic: &str) -> rdkafka::metadata::Metadata {
    use rdkafka::producer::Producer;
    let (producer, topic) = (producer.clone(), topic.to_string());
    blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&topic), WAIT)
            .expect("metadata")
    })
    .await
}

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    producer_config(bootstrap, extra)
        .create()
        .expect("create producer")
}

/// Config for an assign()-only consumer: a group id is required by
/// librdkafka but never used (no subscribe, no commits).
pub fn consumer_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = client_config(
        bootstrap,
        &[
            ("group.id", "fjord-tests-unused"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
        ],
    );
    for (name, value) in extra {
        config.set(*name, *value);
    }
    config
}

pub fn stream_consumer(bootstrap: &str) -> StreamConsumer {
    consumer_config(bootstrap, &[])
        .create()
        .expect("create consumer")
}

pub fn base_consumer(bootstrap: &str) -> BaseConsumer {
    consumer_config(bootstrap, &[])
        .create()
        .expect("create consumer")
}

pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap, &[])
        .create()
        .expect("create admin client")
}

pub fn admin_options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(WAIT))
}

/// Creates a topic (replication factor 1) and asserts it worked.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin(bootstrap);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &admin_options())
        .await
        .expect("CreateTopics request");
    assert_eq!(results, vec![Ok(name.to_string())], "creating {name}");
    wait_until_served(bootstrap, name, 0..partitions).await;
}

/// Waits until every partition in `partitions` answers ListOffsets. Fjord
/// serves a partition as soon as it is created; Kafka lists its leader a
/// moment before the leader serves it, and a first produce in between gets
/// NOT_LEADER_OR_FOLLOWER, which librdkafka retries behind later batches
/// (no idempotence): records out of produce order, offsets unlike the test
/// expects.
pub async fn wait_until_served(bootstrap: &str, topic: &str, partitions: std::ops::Range<i32>) {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    blocking(move || {
        let consumer = base_consumer(&bootstrap);
        let deadline = Instant::now() + WAIT;
        for partition in partitions {
            while let Err(e) = consumer.fetch_watermarks(&topic, partition, Duration::from_secs(1))
            {
                assert!(
                    Instant::now() < deadline,
                    "{topic}-{partition} not served within {WAIT:?}: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
    .await
}

/// Sends `records` (key, value) to one empty partition all at once and
/// asserts each was acknowledged at its index as offset.
pub async fn produce_in_order(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    records: &[(Option<String>, String)],
) {
    let deliveries: Vec<_> = records
        .iter()
        .map(|(key, value)| {
            let record = rdkafka::producer::FutureRecord::to(topic)
                .partition(partition)
                .payload(value);
            let record = match key {
                Some(key) => record.key(key),
                None => record,
            };
            producer.send(record, rdkafka::util::Timeout::After(WAIT))
        })
        .collect();
    for (i, d) in futures::future::join_all(deliveries)
        .await
        .into_iter()
        .enumerate()
    {
        let (offset, what) = (i as i64, format!("{topic}-{partition} record {i}"));
        let delivered = d.unwrap_or_else(|(e, _)| panic!("{what}: {e}"));
        assert_eq!(delivered.offset, offset, "{what}");
    }
}

/// Runs a blocking client call off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// (low, high) watermarks of one partition, from a fresh consumer.
pub async fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    blocking(move || {
        base_consumer(&bootstrap)
            .fetch_watermarks(&topic, partition, WAIT)
            .expect("fetch watermarks")
    })
    .await
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// Consuming
// ---------------------------------------------------------------------------

/// A consumed record, owned and comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl Consumed {
    pub fn from_message(message: &OwnedMessage) -> Consumed {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Consumed {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp(),
        }
    }
}

/// Assigns `partitions` of `topic` at `offset` to a new consumer and reads
/// until `count` records arrived; panics after `timeout`. Does not wait for
/// more; check watermarks to show nothing else is there.
pub async fn consume_n(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    offset: Offset,
    count: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer = assigned_consumer(bootstrap, topic, partitions, offset);
    let mut out = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => out.push(Consumed::from_message(&message.detach())),
            Ok(Err(e)) => panic!("consuming {topic}: {e}"),
            Err(_) => panic!(
                "consumed only {} of {count} records from {topic} {partitions:?} within {timeout:?}",
                out.len()
            ),
        }
    }
    out
}

/// Reads from `topic` for `window` and returns whatever arrived (for
/// asserting that nothing does).
pub async fn consume_for(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    offset: Offset,
    window: Duration,
) -> Vec<Consumed> {
    let consumer = assigned_consumer(bootstrap, topic, partitions, offset);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => out.push(Consumed::from_message(&message.detach())),
            Ok(Err(e)) => panic!("consuming {topic}: {e}"),
            Err(_) => return out,
        }
    }
}

pub fn assigned_consumer(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    offset: Offset,
) -> StreamConsumer {
    let consumer = stream_consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    for &p in partitions {
        assignment
            .add_partition_offset(topic, p, offset)
            .expect("add partition");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Groups records by partition, keeping their order.
pub fn by_partition(records: &[Consumed]) -> BTreeMap<i32, Vec<Consumed>> {
    let mut map: BTreeMap<i32, Vec<Consumed>> = BTreeMap::new();
    for r in records {
        map.entry(r.partition).or_default().push(r.clone());
    }
    map
}

/// Names of the `.log` segment files of one partition, sorted.
pub fn segment_files(data_dir: &Path, topic: &str, partition: i32) -> Vec<PathBuf> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

/// offsets_for_times for one partition: Some(offset) or None for "no such record" (-1).
pub async fn offset_for_time(bootstrap: &str, topic: &str, partition: i32, ts: i64) -> Option<i64> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    blocking(move || {
        let consumer = base_consumer(&bootstrap);
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset(&topic, partition, Offset::Offset(ts))
            .unwrap();
        let answer = consumer
            .offsets_for_times(query, WAIT)
            .expect("offsets_for_times");
        let element = answer
            .find_partition(&topic, partition)
            .expect("partition in answer");
        assert!(
            element.error().is_ok(),
            "error for {ts}: {:?}",
            element.error()
        );
        match element.offset() {
            Offset::Offset(o) => Some(o),
            Offset::End => None,
            other => panic!("unexpected offset {other:?} for timestamp {ts}"),
        }
    })
    .await
}
