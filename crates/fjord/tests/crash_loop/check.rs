//! The exact check after the last restart: the log against the delivery
//! reports, the group's committed offsets against the acknowledged commits.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::acknowledged;
use crate::load::{parse_key, value, Acked, Commits};

/// Reading the whole log back may take a while on a loaded machine.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

pub struct RecordFigures {
    pub stored: usize,
    pub stored_unacknowledged: usize,
    pub lost: usize,
}

/// Reads every partition from 0 to its high watermark. Panics on a gap in
/// the offsets, a record whose bytes do not match its key, or a record
/// stored twice; counts (and prints) acknowledged records that are not at
/// their acknowledged offset.
pub async fn records(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    acked: &[Acked],
) -> RecordFigures {
    let consumed = acknowledged::read_everything(bootstrap, topic, partitions, READ_TIMEOUT).await;

    let mut stored: HashMap<(i32, i64), (u32, u64)> = HashMap::with_capacity(consumed.len());
    let mut stored_at: HashMap<(u32, u64), (i32, i64)> = HashMap::with_capacity(consumed.len());
    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &consumed {
        let at = (record.partition, record.offset);
        let expected_offset = next_offset.entry(record.partition).or_insert(0);
        assert_eq!(
            record.offset, *expected_offset,
            "partition {}: offsets have a gap",
            at.0
        );
        *expected_offset += 1;
        let key = record.key.as_deref().unwrap_or_default();
        let id = parse_key(key).unwrap_or_else(|| {
            panic!(
                "{at:?}: key {:?} was never sent",
                String::from_utf8_lossy(key)
            )
        });
        assert_eq!(
            record.value.as_deref(),
            Some(value(id.0, id.1).as_slice()),
            "{at:?}: the value does not match key p{}-{}",
            id.0,
            id.1
        );
        if let Some(first) = stored_at.insert(id, at) {
            panic!(
                "p{}-{} is stored twice: at {first:?} and {at:?}",
                id.0, id.1
            );
        }
        stored.insert(at, id);
    }

    let mut lost = 0;
    for a in acked {
        if stored.get(&(a.partition, a.offset)) != Some(&(a.producer, a.seq)) {
            lost += 1;
            if lost <= 10 {
                eprintln!(
                    "LOST: p{}-{} acknowledged at {}/{}, found there: {:?}, stored at: {:?}",
                    a.producer,
                    a.seq,
                    a.partition,
                    a.offset,
                    stored.get(&(a.partition, a.offset)),
                    stored_at.get(&(a.producer, a.seq))
                );
            }
        }
    }
    RecordFigures {
        stored: consumed.len(),
        stored_unacknowledged: consumed.len().saturating_sub(acked.len() - lost),
        lost,
    }
}

pub struct CommitFigures {
    pub lost: usize,
}

/// The group's committed offset of each partition must be its last
/// acknowledged commit or a commit sent after it (acknowledged or not: the
/// broker may have stored one whose answer the kill cut off). A member that
/// resumed below an acknowledged commit (the acknowledged offsets of a
/// partition going back) also counts as a lost commit.
pub async fn commits(
    bootstrap: &str,
    topic: &str,
    group: &str,
    partitions: i32,
    commits: &Commits,
) -> CommitFigures {
    let fetched = acknowledged::committed_offsets(bootstrap, group, topic, partitions).await;
    let mut lost = 0;
    for partition in 0..partitions {
        let acked: Vec<i64> = of_partition(&commits.acknowledged, partition);
        let attempted: Vec<i64> = of_partition(&commits.attempted, partition);
        for pair in acked.windows(2) {
            if pair[1] < pair[0] {
                lost += 1;
                eprintln!(
                    "LOST COMMIT: partition {partition}: acknowledged {} then {}",
                    pair[0], pair[1]
                );
            }
        }
        let Some(&last_acked) = acked.iter().max() else {
            continue;
        };
        match fetched.get(&partition).copied() {
            Some(offset) if offset >= last_acked => assert!(
                attempted.contains(&offset),
                "partition {partition}: committed offset {offset} was never sent"
            ),
            other => {
                lost += 1;
                eprintln!(
                    "LOST COMMIT: partition {partition}: acknowledged {last_acked}, fetched {other:?}"
                );
            }
        }
    }
    CommitFigures { lost }
}

fn of_partition(list: &[(i32, i64)], partition: i32) -> Vec<i64> {
    list.iter()
        .filter(|(p, _)| *p == partition)
        .map(|(_, offset)| *offset)
        .collect()
}
