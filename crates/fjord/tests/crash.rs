//! Crash safety on the real `fjord` binary: kill -9 mid-stream loses no
//! acknowledged record; a torn or garbage tail is cut at restart after a
//! crash; damage with intact data after it is never cut.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{acknowledged, BinaryBroker};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::Offset;

const PARTITIONS: i32 = 4;

fn value_for(i: u64) -> String {
    format!("value-{i}-{}", "p".repeat((i % 50) as usize))
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_acknowledged_record() {
    if common::skipped_for_external("kills its broker and checks what survived on disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = BinaryBroker::start(dir.path(), &[("num.partitions", "4")]);
    let topic = common::unique_topic("crash");
    common::create_topic(&broker.bootstrap, &topic, PARTITIONS, &[]).await;

    let producer = common::producer(
        &broker.bootstrap,
        &[
            ("acks", "all"),
            ("message.send.max.retries", "0"),
            ("message.timeout.ms", "5000"),
            ("linger.ms", "2"),
            ("reconnect.backoff.ms", "100"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let producing = tokio::spawn(acknowledged::produce_until_stopped(
        producer.clone(),
        topic.clone(),
        |seq| (format!("k{seq}"), value_for(seq).into_bytes()),
        256,
        stop.clone(),
        acked.clone(),
    ));

    common::wait_for("5000 acknowledged records", Duration::from_secs(60), || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 5000).then_some(()) }
    })
    .await;
    broker.kill9();
    let acked_at_kill = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    let sent = producing.await.expect("producer task");
    drop(producer);
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "sent {sent}, acknowledged {} ({acked_at_kill} when killed)",
        acked.len()
    );

    let broker = BinaryBroker::start(dir.path(), &[("num.partitions", "4")]);
    let consumed =
        acknowledged::read_everything(&broker.bootstrap, &topic, PARTITIONS, common::WAIT).await;

    // Every record on disk is one that was sent, at most once.
    let mut seen = HashSet::new();
    let mut at: HashMap<(i32, i64), &common::Consumed> = HashMap::new();
    for (partition, records) in common::by_partition(&consumed) {
        for (n, r) in records.iter().enumerate() {
            assert_eq!(
                r.offset, n as i64,
                "partition {partition}: offsets contiguous"
            );
        }
    }
    for r in &consumed {
        let key = String::from_utf8(r.key.clone().expect("key")).unwrap();
        let seq: u64 = key[1..].parse().unwrap();
        assert!(seq < sent, "{key} was never sent");
        assert_eq!(r.value.as_deref(), Some(value_for(seq).as_bytes()));
        assert!(seen.insert(seq), "{key} is stored twice");
        at.insert((r.partition, r.offset), r);
    }

    // Every acknowledged record is there, where its delivery report said.
    let mut per_partition: BTreeMap<i32, Vec<acknowledged::Delivered>> = BTreeMap::new();
    for a in &acked {
        let r = at.get(&(a.partition, a.offset)).unwrap_or_else(|| {
            panic!(
                "acknowledged k{} at {}/{} is missing",
                a.seq, a.partition, a.offset
            )
        });
        assert_eq!(r.key.as_deref(), Some(format!("k{}", a.seq).as_bytes()));
        per_partition.entry(a.partition).or_default().push(*a);
    }
    // ... and in the order it was sent.
    for (partition, mut list) in per_partition {
        list.sort_by_key(|a| a.seq);
        for pair in list.windows(2) {
            assert!(
                pair[0].offset < pair[1].offset,
                "partition {partition}: k{} sent before k{} but stored after it",
                pair[0].seq,
                pair[1].seq
            );
        }
    }

    // The restarted broker keeps appending after what it recovered.
    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    let (low, high) = common::watermarks(&broker.bootstrap, &topic, 0).await;
    assert_eq!(low, 0);
    let d = producer
        .send(
            FutureRecord::to(&topic)
                .partition(0)
                .key("after")
                .payload("restart"),
            Timeout::After(common::WAIT),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("produce after restart: {e}"));
    assert_eq!(d.offset, high);
    producer.flush(Timeout::After(common::WAIT)).unwrap();
    broker.terminate();
}

/// Appends `tail` to the active segment of one partition; returns the
/// segment's path and its length before.
fn append_to_active_segment(
    data_dir: &std::path::Path,
    topic: &str,
    partition: i32,
    tail: &[u8],
) -> (std::path::PathBuf, u64) {
    let segments = common::segment_files(data_dir, topic, partition);
    let active = segments.last().expect("a segment").clone();
    let before = std::fs::metadata(&active).unwrap().len();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap();
    file.write_all(tail).unwrap();
    file.sync_all().unwrap();
    (active, before)
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_tail_is_cut_and_appends_continue() {
    if common::skipped_for_external("kills its broker and checks what survived on disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = BinaryBroker::start(dir.path(), &[]);
    let topic = common::unique_topic("torn");
    common::create_topic(&broker.bootstrap, &topic, 3, &[]).await;
    let counts = [300usize, 200, 100];
    let producer = common::producer(
        &broker.bootstrap,
        &[
            ("acks", "all"),
            ("compression.type", "zstd"),
            ("batch.num.messages", "25"),
        ],
    );
    let values: Vec<Vec<String>> = counts
        .iter()
        .enumerate()
        .map(|(p, &n)| (0..n).map(|i| format!("p{p}-r{i}")).collect())
        .collect();
    for (p, vals) in values.iter().enumerate() {
        let records: Vec<(Option<String>, String)> =
            vals.iter().map(|v| (None, v.clone())).collect();
        common::produce_in_order(&producer, &topic, p as i32, &records).await;
    }
    drop(producer);
    // Torn writes come from a crash: after a clean shutdown nothing is cut.
    broker.kill9();

    // Partition 0: the first half of a real batch (a torn write).
    let first = std::fs::read(&common::segment_files(dir.path(), &topic, 0)[0]).unwrap();
    let batch_len = 12 + i32::from_be_bytes(first[8..12].try_into().unwrap()) as usize;
    let torn = &first[..batch_len / 2];
    let tails: [Vec<u8>; 3] = [torn.to_vec(), vec![0u8; 4096], vec![0xFF; 77]];
    let mut cut = Vec::new();
    for (p, tail) in tails.iter().enumerate() {
        cut.push(append_to_active_segment(dir.path(), &topic, p as i32, tail));
    }

    let broker = BinaryBroker::start(dir.path(), &[]);
    for (p, (segment, len)) in cut.iter().enumerate() {
        assert_eq!(
            common::watermarks(&broker.bootstrap, &topic, p as i32).await,
            (0, counts[p] as i64),
            "partition {p} after recovery"
        );
        assert_eq!(
            std::fs::metadata(segment).unwrap().len(),
            *len,
            "partition {p}: the bad tail was cut from {}",
            segment.display()
        );
    }
    let consumed = acknowledged::read_everything(&broker.bootstrap, &topic, 3, common::WAIT).await;
    for (p, records) in common::by_partition(&consumed) {
        let got: Vec<&str> = records
            .iter()
            .map(|r| std::str::from_utf8(r.value.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(got, values[p as usize], "partition {p} contents");
    }

    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    for (p, &n) in counts.iter().enumerate() {
        let d = producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(p as i32)
                    .payload("next"),
                Timeout::After(common::WAIT),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce after recovery: {e}"));
        assert_eq!(
            d.offset, n as i64,
            "partition {p}: appends continue at the end"
        );
        let consumed = common::consume_n(
            &broker.bootstrap,
            &topic,
            &[p as i32],
            Offset::Offset(n as i64),
            1,
            common::WAIT,
        )
        .await;
        assert_eq!(consumed[0].offset, n as i64);
        assert_eq!(consumed[0].value.as_deref(), Some(&b"next"[..]));
    }
    broker.terminate();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Partitions are keyed by topic id: a topic deleted and created again
/// under its name never serves the old topic's records, even when a crash
/// leaves the old directory where the new one goes (a deletion whose
/// rename never reached the disk; made here by putting a copy of the old
/// directory back while the broker is down). Before ids were kept, the
/// restarted broker served the old records as the new topic's.
#[tokio::test(flavor = "multi_thread")]
async fn recreated_topic_never_serves_the_deleted_topics_records() {
    if common::skipped_for_external("kills its broker and checks what survived on disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let topic = common::unique_topic("reborn");
    let partition_dir = dir.path().join(format!("{topic}-0"));
    let old_copy = saved.path().join("old");

    let broker = BinaryBroker::start(dir.path(), &[]);
    common::create_topic(&broker.bootstrap, &topic, 1, &[]).await;
    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    let old: Vec<_> = (0..3).map(|i| (None, format!("old-{i}"))).collect();
    common::produce_in_order(&producer, &topic, 0, &old).await;
    drop(producer);
    broker.kill9();
    copy_dir(&partition_dir, &old_copy);

    let broker = BinaryBroker::start(dir.path(), &[]);
    let admin = common::admin(&broker.bootstrap);
    let deleted = admin
        .delete_topics(&[&topic], &common::admin_options())
        .await
        .expect("DeleteTopics");
    assert_eq!(deleted, vec![Ok(topic.clone())]);
    common::create_topic(&broker.bootstrap, &topic, 1, &[]).await;
    broker.kill9();

    std::fs::remove_dir_all(&partition_dir).unwrap();
    copy_dir(&old_copy, &partition_dir);
    let broker = BinaryBroker::start(dir.path(), &[]);
    assert_eq!(
        common::watermarks(&broker.bootstrap, &topic, 0).await,
        (0, 0),
        "the re-created topic starts empty"
    );
    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    common::produce_in_order(&producer, &topic, 0, &[(None, "new-0".to_string())]).await;
    let consumed = common::consume_for(
        &broker.bootstrap,
        &topic,
        &[0],
        Offset::Beginning,
        Duration::from_secs(2),
    )
    .await;
    let values: Vec<_> = consumed
        .iter()
        .map(|r| (r.offset, r.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(values, vec![(0, b"new-0".to_vec())]);
    assert_eq!(
        broker.logged("belongs to another topic").len(),
        1,
        "the old directory is reported as moved aside"
    );
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{topic}-0.")) && n.ends_with("-stray"))
        .collect();
    assert_eq!(stray.len(), 1, "the old data is kept aside: {stray:?}");
}
