//! The aborted-transaction index through kill -9 of the real binary: with
//! every `.txnindex` file gone afterwards, the restarted broker rebuilds
//! them from the log, and librdkafka's read_committed consumer still skips
//! the aborted records (read_uncommitted still sees them). Fjord only: it
//! kills its broker and removes its files.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::transactional::{
    assert_committed_aborted_committed, end_offset, send_values, tagged, transactional_producer,
    READ_COMMITTED,
};
use common::{blocking, BinaryBroker, WAIT};
use rdkafka::producer::Producer;

const SETTLE: Duration = Duration::from_secs(1);

/// Every `.txnindex` file under `dir`.
fn txn_indexes(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "txnindex") {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn aborted_records_stay_hidden_after_kill_9_and_lost_txn_indexes() {
    if common::skipped_for_external("it kills its own broker") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = BinaryBroker::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap.clone();
    let topic = common::unique_topic("txn-index-crash");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    let (first, aborted, second) = (
        tagged("first", 5),
        tagged("aborted", 4),
        tagged("second", 3),
    );
    {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let (first, aborted, second) = (first.clone(), aborted.clone(), second.clone());
        let id = common::unique_topic("txn-index-crash-id");
        blocking(move || {
            let producer = transactional_producer(&bootstrap, &id, &[]);
            producer.begin_transaction().expect("begin");
            send_values(&producer, &topic, &first);
            producer.commit_transaction(WAIT).expect("commit"); // marker at 5
            producer.begin_transaction().expect("begin");
            send_values(&producer, &topic, &aborted);
            producer.abort_transaction(WAIT).expect("abort"); // marker at 10
            producer.begin_transaction().expect("begin");
            send_values(&producer, &topic, &second);
            producer.commit_transaction(WAIT).expect("commit"); // marker at 14
        })
        .await;
    }
    // The markers follow EndTxn's answer: wait until all three are in.
    common::wait_for("the last marker", WAIT, || async {
        (end_offset(&bootstrap, &topic, READ_COMMITTED).await == 15).then_some(())
    })
    .await;
    broker.kill9();
    let indexes = txn_indexes(dir.path());
    assert!(!indexes.is_empty(), "the partition has a txnindex");
    for index in &indexes {
        std::fs::remove_file(index).expect("remove txnindex");
    }

    let broker = BinaryBroker::start(dir.path(), &[]);
    let bootstrap = broker.bootstrap.clone();
    assert_committed_aborted_committed(&bootstrap, &topic, (&first, &aborted, &second), SETTLE)
        .await;
    assert_eq!(end_offset(&bootstrap, &topic, READ_COMMITTED).await, 15);
    assert!(
        !txn_indexes(dir.path()).is_empty(),
        "the txnindex is rebuilt"
    );
    assert!(
        !broker.logged("rebuilding them").is_empty(),
        "the rebuild is logged"
    );
}
