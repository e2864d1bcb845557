//! Transactions as librdkafka sees them, against any broker (Fjord in
//! process, or Apache Kafka through FJORD_TEST_BOOTSTRAP): aborted records
//! are invisible to read_committed consumers and visible to
//! read_uncommitted ones, an open transaction holds read_committed at the
//! last stable offset, and a zombie producer (an older instance with the
//! same transactional.id) is fenced, its open transaction aborted.
//!
//! Offsets: a transaction's commit or abort marker takes one offset in each
//! partition it wrote to.

mod common;

use std::time::Duration;

use common::transactional::{
    assert_committed_aborted_committed, at, end_offset, offsets_and_values, read_partition,
    send_values, tagged, transactional_producer, READ_COMMITTED, READ_UNCOMMITTED,
};
use common::{blocking, AnyBroker, WAIT};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::Producer;

const SETTLE: Duration = Duration::from_secs(1);

/// Kafka answers EndTxn once the coordinator has decided and writes the
/// markers after that, so the outcome shows in a partition a moment later.
async fn eventually_end_offset(bootstrap: &str, topic: &str, isolation: &str, want: i64) -> i64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = end_offset(bootstrap, topic, isolation).await;
        if got == want || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aborted_records_are_invisible_to_read_committed_and_visible_to_read_uncommitted() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("txn-abort");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    let (first, aborted, second) = (
        tagged("first", 5),
        tagged("aborted", 4),
        tagged("second", 6),
    );
    let id = common::unique_topic("txn-abort-id");
    {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let (first, aborted, second) = (first.clone(), aborted.clone(), second.clone());
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
            producer.commit_transaction(WAIT).expect("commit"); // marker at 17
        })
        .await;
    }
    assert_committed_aborted_committed(&bootstrap, &topic, (&first, &aborted, &second), SETTLE)
        .await;
    assert_eq!(
        eventually_end_offset(&bootstrap, &topic, READ_COMMITTED, 18).await,
        18
    );
    assert_eq!(end_offset(&bootstrap, &topic, READ_UNCOMMITTED).await, 18);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_transaction_holds_read_committed_at_the_last_stable_offset() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("txn-lso");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    let (before, pending) = (tagged("before", 3), tagged("pending", 4));
    let producer = {
        let (bootstrap, topic, before, pending) = (
            bootstrap.clone(),
            topic.clone(),
            before.clone(),
            pending.clone(),
        );
        let id = common::unique_topic("txn-lso-id");
        blocking(move || {
            let producer = transactional_producer(&bootstrap, &id, &[]);
            producer.begin_transaction().expect("begin");
            send_values(&producer, &topic, &before);
            producer.commit_transaction(WAIT).expect("commit"); // marker at 3
            producer.begin_transaction().expect("begin");
            send_values(&producer, &topic, &pending); // 4..8, undecided
            producer
        })
        .await
    };
    assert_eq!(
        eventually_end_offset(&bootstrap, &topic, READ_COMMITTED, 4).await,
        4,
        "the last stable offset: the open transaction's first offset"
    );
    assert_eq!(end_offset(&bootstrap, &topic, READ_UNCOMMITTED).await, 8);
    let read = read_partition(&bootstrap, &topic, 0, READ_COMMITTED, before.len(), SETTLE).await;
    assert_eq!(offsets_and_values(&read), at(0, &before));
    let read = read_partition(&bootstrap, &topic, 0, READ_UNCOMMITTED, 7, SETTLE).await;
    assert_eq!(
        offsets_and_values(&read),
        [at(0, &before), at(4, &pending)].concat()
    );

    blocking(move || producer.commit_transaction(WAIT).expect("commit")).await; // marker at 8
    assert_eq!(
        eventually_end_offset(&bootstrap, &topic, READ_COMMITTED, 9).await,
        9
    );
    let read = read_partition(&bootstrap, &topic, 0, READ_COMMITTED, 7, SETTLE).await;
    assert_eq!(
        offsets_and_values(&read),
        [at(0, &before), at(4, &pending)].concat()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zombie_producer_is_fenced_and_its_open_transaction_aborted() {
    let broker = AnyBroker::start().await;
    let bootstrap = broker.bootstrap();
    let topic = common::unique_topic("txn-zombie");
    common::create_topic(&bootstrap, &topic, 1, &[]).await;
    let (early, zombie, newer) = (tagged("early", 2), tagged("zombie", 3), tagged("newer", 2));
    let id = common::unique_topic("txn-zombie-id");
    let fenced = {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        let (early, zombie, newer) = (early.clone(), zombie.clone(), newer.clone());
        blocking(move || {
            let old = transactional_producer(&bootstrap, &id, &[]);
            old.begin_transaction().expect("begin");
            send_values(&old, &topic, &early);
            old.commit_transaction(WAIT).expect("commit"); // marker at 2
            old.begin_transaction().expect("begin");
            send_values(&old, &topic, &zombie); // 3..6, left open

            // The newer instance's InitProducerId bumps the epoch and
            // aborts the old one's open transaction (marker at 6).
            let new = transactional_producer(&bootstrap, &id, &[]);
            let fenced = old
                .commit_transaction(WAIT)
                .expect_err("the zombie's commit must fail");
            new.begin_transaction().expect("begin");
            send_values(&new, &topic, &newer); // 7..9
            new.commit_transaction(WAIT).expect("commit"); // marker at 9
            fenced
        })
        .await
    };
    let code = fenced.rdkafka_error_code();
    assert!(
        matches!(
            code,
            Some(
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            )
        ),
        "the zombie's commit failed with {fenced} ({code:?}), not as fenced"
    );
    let read = read_partition(&bootstrap, &topic, 0, READ_COMMITTED, 4, SETTLE).await;
    assert_eq!(
        offsets_and_values(&read),
        [at(0, &early), at(7, &newer)].concat()
    );
    let read = read_partition(&bootstrap, &topic, 0, READ_UNCOMMITTED, 7, SETTLE).await;
    assert_eq!(
        offsets_and_values(&read),
        [at(0, &early), at(3, &zombie), at(7, &newer)].concat()
    );
}
