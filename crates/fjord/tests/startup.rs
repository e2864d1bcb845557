//! Start-up on a damaged data dir, with the real binary: a lost or damaged
//! metadata file is refused with a message naming it, never replaced by an
//! empty one that forgets the topics (issue 7, defects 2 and 6).

mod common;

use std::path::Path;

use common::BinaryBroker;
use rdkafka::producer::FutureRecord;
use rdkafka::Offset;

const METADATA_FILE: &str = "fjord-metadata.json";

/// Creates `topic` with one partition holding `count` records, then stops
/// the broker cleanly.
async fn data_dir_with_records(dir: &Path, topic: &str, count: usize) {
    let broker = BinaryBroker::start(dir, &[]);
    common::create_topic(&broker.bootstrap, topic, 1, &[]).await;
    let producer = common::producer(&broker.bootstrap, &[("acks", "all")]);
    let deliveries: Vec<_> = (0..count)
        .map(|i| {
            let value = format!("record-{i}");
            producer
                .send_result(FutureRecord::<(), _>::to(topic).payload(&value))
                .expect("queue record")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("delivery").expect("acknowledged");
    }
    drop(producer);
    broker.terminate();
}

fn partition_log_bytes(dir: &Path, topic: &str) -> u64 {
    std::fs::read_dir(dir.join(format!("{topic}-0")))
        .expect("partition dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().expect("metadata").len())
        .sum()
}

async fn assert_all_records_readable(bootstrap: &str, topic: &str, count: usize) {
    let (low, high) = common::watermarks(bootstrap, topic, 0).await;
    assert_eq!((low, high), (0, count as i64));
    let read = common::consume_n(
        bootstrap,
        topic,
        &[0],
        Offset::Beginning,
        count,
        common::WAIT,
    )
    .await;
    let values: Vec<_> = read.into_iter().map(|r| r.value.unwrap()).collect();
    let expected: Vec<_> = (0..count)
        .map(|i| format!("record-{i}").into_bytes())
        .collect();
    assert_eq!(values, expected);
}

/// Defect 2: with the metadata file removed the broker started with a new
/// cluster id, forgot the topic, and the first auto-creation of its name
/// replaced 20,000 records with an empty log.
#[tokio::test(flavor = "multi_thread")]
async fn missing_metadata_file_with_data_refuses_to_start() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let topic = "kept";
    data_dir_with_records(dir.path(), topic, 2_000).await;
    let log_bytes = partition_log_bytes(dir.path(), topic);
    let metadata = dir.path().join(METADATA_FILE);
    let saved = std::fs::read(&metadata).unwrap();
    std::fs::remove_file(&metadata).unwrap();

    let stderr = common::binary_refuses_to_start(dir.path(), &[]);
    assert!(stderr.contains(METADATA_FILE), "{stderr}");
    assert!(stderr.contains("kept-0"), "names the data found: {stderr}");
    assert!(!metadata.exists(), "no new metadata file was written");
    assert_eq!(partition_log_bytes(dir.path(), topic), log_bytes);

    // Restoring the file brings everything back.
    std::fs::write(&metadata, saved).unwrap();
    let broker = BinaryBroker::start(dir.path(), &[]);
    assert_all_records_readable(&broker.bootstrap, topic, 2_000).await;
    broker.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_metadata_file_refuses_to_start() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_records(dir.path(), "t", 10).await;
    let metadata = dir.path().join(METADATA_FILE);
    let mut bytes = std::fs::read(&metadata).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&metadata, &bytes).unwrap();

    let stderr = common::binary_refuses_to_start(dir.path(), &[]);
    assert!(stderr.contains(METADATA_FILE), "{stderr}");
    assert!(stderr.contains("unreadable"), "{stderr}");
    assert_eq!(std::fs::read(&metadata).unwrap(), bytes, "left as it was");
}

/// Defect 6: a topic with 0 partitions was loaded silently and clients then
/// timed out on it. Refused, with what to fix.
#[tokio::test(flavor = "multi_thread")]
async fn topic_with_no_partitions_refuses_to_start() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_records(dir.path(), "zero", 10).await;
    let metadata = dir.path().join(METADATA_FILE);
    let text = std::fs::read_to_string(&metadata).unwrap();
    let edited = text.replace("\"partitions\": 1", "\"partitions\": 0");
    assert_ne!(edited, text, "the file lists the partition count");
    std::fs::write(&metadata, &edited).unwrap();

    let stderr = common::binary_refuses_to_start(dir.path(), &[]);
    assert!(stderr.contains(METADATA_FILE), "{stderr}");
    assert!(stderr.contains("'zero' has 0 partitions"), "{stderr}");
}

/// A fresh (or empty) data dir still starts with no configuration at all.
#[tokio::test(flavor = "multi_thread")]
async fn empty_data_dir_starts() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = BinaryBroker::start(&dir.path().join("new"), &[]);
    common::create_topic(&broker.bootstrap, "fresh", 1, &[]).await;
    broker.terminate();
    assert!(dir.path().join("new").join(METADATA_FILE).exists());
}

/// A second broker on a data dir in use would interleave its appends with
/// the first's: it is refused, naming the lock, before it touches anything,
/// and the first keeps serving. The lock dies with its process, kill -9
/// included, so a restart after a crash needs no clean-up.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_broker_on_a_data_dir_in_use_is_refused() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = BinaryBroker::start(dir.path(), &[]);
    common::create_topic(&first.bootstrap, "held", 1, &[]).await;
    let producer = common::producer(&first.bootstrap, &[("acks", "all")]);
    let mut sent = 0;
    let mut send = |count: usize| {
        let deliveries: Vec<_> = (sent..sent + count)
            .map(|i| {
                producer
                    .send_result(FutureRecord::<(), _>::to("held").payload(&format!("record-{i}")))
                    .expect("queue record")
            })
            .collect();
        sent += count;
        deliveries
    };
    for delivery in send(5) {
        delivery.await.expect("delivery").expect("acknowledged");
    }

    let refused = common::binary_refuses_to_start(dir.path(), &[]);
    assert!(
        refused.contains(".lock") && refused.contains("already running"),
        "{refused}"
    );
    for delivery in send(5) {
        delivery.await.expect("delivery").expect("acknowledged");
    }
    assert_all_records_readable(&first.bootstrap, "held", 10).await;
    drop(producer);
    first.kill9();

    let again = BinaryBroker::start(dir.path(), &[]);
    assert_all_records_readable(&again.bootstrap, "held", 10).await;
    again.terminate();
}

/// Defect 3: partition directories the metadata does not know (left by a
/// creation that ran out of file handles) were all loaded at start-up,
/// holding their files open, and the broker could no longer start on its
/// own data dir. Now they are ignored, reported by name, and never adopted.
#[tokio::test(flavor = "multi_thread")]
async fn directories_of_unknown_topics_are_ignored_and_reported() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_records(dir.path(), "known", 10).await;
    let segment = std::fs::read_dir(dir.path().join("known-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    for partition in 0..400 {
        let leftover = dir.path().join(format!("leftover-{partition}"));
        std::fs::create_dir(&leftover).unwrap();
        std::fs::copy(&segment, leftover.join(segment.file_name().unwrap())).unwrap();
    }

    // Three files per loaded partition would need 1,200 handles.
    let broker = BinaryBroker::start_with_file_limit(dir.path(), &[], 256);
    let reported = broker.logged("leftover-0");
    assert!(
        reported
            .iter()
            .any(|l| l.contains("WARN") && l.contains("400")),
        "the ignored directories are reported: {reported:?}"
    );
    assert_all_records_readable(&broker.bootstrap, "known", 10).await;

    // Creating the topic makes it new and empty: the leftover is moved
    // aside, not adopted.
    common::create_topic(&broker.bootstrap, "leftover", 1, &[]).await;
    assert_eq!(
        common::watermarks(&broker.bootstrap, "leftover", 0).await,
        (0, 0)
    );
    assert!(!broker.logged("moved aside").is_empty());
    broker.terminate();
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("leftover-0.") && n.ends_with("-stray"))
        .collect();
    assert_eq!(stray.len(), 1, "{stray:?}");
    assert!(dir
        .path()
        .join("leftover-399")
        .join(segment.file_name().unwrap())
        .exists());
}

/// Defect 3: a creation that ran out of file handles part-way left
/// partition directories behind, and the broker then could not start on its
/// own data dir. Under a 256-file limit, 300 partitions took 900 handles
/// when each held three files: the creation must leave all of them or none
/// (with Kafka's storage error), and the broker must start again. Since the
/// store keeps no handle per partition the creation fits; the rollback
/// itself is tested in the broker's topics_tests with a store that fails.
#[tokio::test(flavor = "multi_thread")]
async fn creation_out_of_file_handles_is_all_or_nothing() {
    if common::skipped_for_external(
        "starts its own broker on a data dir or with settings set up for the test",
    ) {
        return;
    }
    use rdkafka::admin::{NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;

    let dir = tempfile::tempdir().unwrap();
    let broker = BinaryBroker::start_with_file_limit(dir.path(), &[], 256);
    let admin = common::admin(&broker.bootstrap);
    let topic = NewTopic::new("huge", 300, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&topic], &common::admin_options())
        .await
        .expect("CreateTopics request");
    let partition_dirs = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("huge-")
            })
            .count()
    };
    match &results[0] {
        // A store that holds fewer handles per partition may fit them all:
        // then every partition must be there.
        Ok(_) => assert_eq!(partition_dirs(), 300),
        Err((_, code)) => {
            assert_eq!(*code, RDKafkaErrorCode::KafkaStorageError);
            assert_eq!(partition_dirs(), 0, "no partition directory is left");
            let metadata = std::fs::read_to_string(dir.path().join(METADATA_FILE)).unwrap();
            assert!(!metadata.contains("\"huge\""), "{metadata}");
        }
    }
    drop(admin);
    broker.terminate();
    let broker = BinaryBroker::start(dir.path(), &[]);
    common::create_topic(&broker.bootstrap, "after", 1, &[]).await;
    broker.terminate();
}
