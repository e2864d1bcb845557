//! A parked fetch learns from the logs' byte counters how much arrived: it
//! reads the log only once min_bytes can be met, however many appends wake
//! it before, and answers what a fetch reading at that moment answers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_storage::local::{install_read_hook, ReadKind};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::fetch::handle;
use super::test_support::{append_batch, ctx, test_broker};

const VERSION: i16 = 12;
const BATCHES_NEEDED: usize = 5;

pub(super) fn fetch(min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    let mut partition = FetchPartition::default();
    partition.partition_max_bytes = 1 << 20;
    let mut topic = FetchTopic::default();
    topic.topic = TopicName(StrBytes::from_static_str("t"));
    topic.partitions = vec![partition];
    let mut request = FetchRequest::default();
    request.min_bytes = min_bytes;
    request.max_wait_ms = max_wait_ms;
    request.max_bytes = 1 << 20;
    request.topics = vec![topic];
    request
}

fn records(response: &FetchResponse) -> Bytes {
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.records.clone().unwrap_or_default()
}

fn batch() -> Vec<Bytes> {
    vec![Bytes::from_static(b"a small record"); 3]
}

#[tokio::test]
async fn a_parked_fetch_reads_the_log_only_once_min_bytes_can_be_met() {
    let broker = test_broker().await;
    broker
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .expect("topic created");
    // The size of one stored batch, measured on another topic.
    broker
        .topics
        .create("probe", 1, BTreeMap::new(), false)
        .await
        .expect("topic created");
    let batch_size = append_batch(&broker, "probe", 0, batch()).await;
    let min_bytes = (batch_size * BATCHES_NEEDED) as i32;

    let reads = Arc::new(AtomicUsize::new(0));
    let _hook = {
        let reads = Arc::clone(&reads);
        install_read_hook(
            &broker.config.data_dir,
            Arc::new(move |kind| {
                if kind == ReadKind::Fetch {
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            }),
        )
    };
    let context = ctx(ApiKey::Fetch, VERSION);
    let parked = handle(&broker, &context, fetch(min_bytes, 30_000));
    let appends = async {
        for appended in 1..=BATCHES_NEEDED {
            // Each append wakes the parked fetch; give it time to look.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                reads.load(Ordering::SeqCst),
                0,
                "the fetch read the log with {} of {BATCHES_NEEDED} batches there",
                appended - 1
            );
            append_batch(&broker, "t", 0, batch()).await;
        }
    };
    let (answer, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(parked, appends)
    })
    .await
    .expect("the parked fetch answered once min_bytes arrived");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "one read, once enough arrived"
    );
    let parked_records = records(&answer);
    assert_eq!(parked_records.len(), batch_size * BATCHES_NEEDED);

    // The same answer as a fetch that does not wait.
    let direct = handle(&broker, &context, fetch(0, 0)).await;
    assert_eq!(parked_records, records(&direct));
}

#[tokio::test]
async fn a_parked_fetch_still_answers_at_its_deadline_with_what_arrived() {
    let broker = test_broker().await;
    broker
        .topics
        .create("t", 1, BTreeMap::new(), false)
        .await
        .expect("topic created");
    let context = ctx(ApiKey::Fetch, VERSION);
    let parked = handle(&broker, &context, fetch(1 << 20, 300));
    let appends = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        append_batch(&broker, "t", 0, batch()).await
    };
    let (answer, size) = tokio::join!(parked, appends);
    assert_eq!(records(&answer).len(), size);
}
