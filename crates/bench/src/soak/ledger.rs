//! What the soak expects of one topic: every acknowledged record, where the
//! broker said it stored it, and what the topic's group consumed there.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// Record ids are unique in a run: the producer in the top 16 bits, its
/// sequence number below.
pub fn record_id(producer: u32, seq: u64) -> u64 {
    (u64::from(producer) << 48) | seq
}

/// 200–1,800 bytes that depend on the whole id: a record stored with other
/// bytes, or under another key, does not match.
pub fn value(id: u64) -> Vec<u8> {
    let mut bytes = vec![0; 200 + (id.wrapping_mul(2_654_435_761) % 1601) as usize];
    fastrand::Rng::with_seed(id).fill(&mut bytes);
    bytes
}

/// Offsets of one partition, each with the id stored there plus one (0: none).
#[derive(Default)]
struct Slots(Vec<u64>);

impl Slots {
    fn get(&self, offset: i64) -> u64 {
        usize::try_from(offset)
            .ok()
            .and_then(|i| self.0.get(i).copied())
            .unwrap_or(0)
    }

    fn set(&mut self, offset: i64, id: u64) -> Result<u64, String> {
        let i = usize::try_from(offset).map_err(|_| format!("negative offset {offset}"))?;
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        let before = self.0[i];
        self.0[i] = id + 1;
        Ok(before)
    }
}

pub struct TopicLedger {
    pub name: String,
    pub group: String,
    /// Records handed to a producer whose delivery report is still due.
    pub in_flight: AtomicI64,
    pub acked: AtomicU64,
    pub consumed: AtomicU64,
    slots: Mutex<Ledger>,
}

/// Puts `id` at `partition`/`offset`; returns what was there.
fn set(partitions: &mut [Slots], partition: i32, offset: i64, id: u64) -> Result<u64, String> {
    usize::try_from(partition)
        .ok()
        .and_then(|p| partitions.get_mut(p))
        .ok_or_else(|| format!("in partition {partition}"))?
        .set(offset, id)
}

#[derive(Default)]
struct Ledger {
    acked: Vec<Slots>,
    consumed: Vec<Slots>,
    problems: Vec<String>,
}

/// What retiring a topic found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub acked: u64,
    pub lost: u64,
    pub problems: Vec<String>,
}

impl TopicLedger {
    pub fn new(name: String, group: String, partitions: i32) -> TopicLedger {
        let ledger = Ledger {
            acked: (0..partitions).map(|_| Slots::default()).collect(),
            consumed: (0..partitions).map(|_| Slots::default()).collect(),
            problems: Vec::new(),
        };
        TopicLedger {
            name,
            group,
            in_flight: AtomicI64::new(0),
            acked: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            slots: Mutex::new(ledger),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut guard = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A delivery report came back OK: `id` is at `partition`/`offset`.
    pub fn acknowledged(&self, partition: i32, offset: i64, id: u64) {
        self.acked.fetch_add(1, Ordering::Relaxed);
        self.with(|l| match set(&mut l.acked, partition, offset, id) {
            Ok(0) => {}
            Ok(before) => l.problems.push(format!(
                "{} {partition}/{offset}: acknowledged for record {id} and {}",
                self.name,
                before - 1
            )),
            Err(e) => l.problems.push(format!("{}: acknowledged {e}", self.name)),
        });
    }

    /// The group read `id` (its bytes already checked) at `partition`/`offset`.
    pub fn consumed(&self, partition: i32, offset: i64, id: u64) {
        self.consumed.fetch_add(1, Ordering::Relaxed);
        self.with(|l| match set(&mut l.consumed, partition, offset, id) {
            Ok(before) if before == 0 || before == id + 1 => {}
            Ok(before) => l.problems.push(format!(
                "{} {partition}/{offset}: read record {id} where {} was read before",
                self.name,
                before - 1
            )),
            Err(e) => l.problems.push(format!("{}: read {e}", self.name)),
        });
    }

    pub fn problem(&self, problem: String) {
        self.with(|l| l.problems.push(problem));
    }

    /// Acknowledged records the group has not read (yet).
    pub fn unconsumed(&self) -> u64 {
        self.with(|l| {
            let mut missing = 0;
            for (acked, consumed) in l.acked.iter().zip(&l.consumed) {
                for (offset, &id) in acked.0.iter().enumerate() {
                    if id != 0 && consumed.get(offset as i64) != id {
                        missing += 1;
                    }
                }
            }
            missing
        })
    }

    /// The final account: acknowledged records the group never read are
    /// lost (the first few are named among the problems).
    pub fn verdict(&self) -> Verdict {
        let name = &self.name;
        self.with(|l| {
            let mut verdict = Verdict {
                problems: std::mem::take(&mut l.problems),
                ..Verdict::default()
            };
            for (partition, (acked, consumed)) in l.acked.iter().zip(&l.consumed).enumerate() {
                for (offset, &id) in acked.0.iter().enumerate() {
                    if id == 0 {
                        continue;
                    }
                    verdict.acked += 1;
                    let read = consumed.get(offset as i64);
                    if read != id {
                        verdict.lost += 1;
                        if verdict.lost <= 10 {
                            verdict.problems.push(format!(
                                "LOST {name} {partition}/{offset}: record {} acknowledged, read there: {}",
                                id - 1,
                                read.checked_sub(1).map_or("nothing".into(), |r| r.to_string())
                            ));
                        }
                    }
                }
            }
            verdict
        })
    }
}
