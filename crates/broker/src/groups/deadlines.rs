//! When each group next needs the coordinator's attention (a session, join,
//! sync or pending-member deadline), so the coordinator sleeps until the
//! earliest one instead of polling every group on a fixed tick.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct Queue {
    by_time: BTreeSet<(Instant, String)>,
    by_group: HashMap<String, Instant>,
}

/// The earliest deadline of every group that has one.
#[derive(Default)]
pub(crate) struct Deadlines {
    queue: Mutex<Queue>,
    /// Woken when a deadline earlier than every other one is set, so the
    /// sleeper can sleep less. A wake-up while nobody waits is kept.
    earlier: Notify,
}

impl Deadlines {
    /// Replaces the group's deadline (None: it has none).
    pub(crate) fn set(&self, group: &str, at: Option<Instant>) {
        let mut queue = self.queue.lock();
        let Queue { by_time, by_group } = &mut *queue;
        if by_group.get(group) == at.as_ref() {
            return;
        }
        if let Some(old) = by_group.remove(group) {
            by_time.remove(&(old, group.to_string()));
        }
        let Some(at) = at else {
            return;
        };
        let first = by_time.first().map(|(t, _)| *t);
        by_group.insert(group.to_string(), at);
        by_time.insert((at, group.to_string()));
        if first.is_none_or(|first| at < first) {
            self.earlier.notify_one();
        }
    }

    /// The earliest deadline of any group.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.queue.lock().by_time.first().map(|(t, _)| *t)
    }

    /// Takes out the groups whose deadline is at or before `now`; the
    /// caller sets their next deadlines after acting on them.
    pub(crate) fn take_due(&self, now: Instant) -> Vec<String> {
        let mut queue = self.queue.lock();
        let mut due = Vec::new();
        while let Some((at, _)) = queue.by_time.first() {
            if *at > now {
                break;
            }
            if let Some((_, group)) = queue.by_time.pop_first() {
                queue.by_group.remove(&group);
                due.push(group);
            }
        }
        due
    }

    /// Resolves when a deadline earlier than all others was set since the
    /// last call.
    pub(crate) async fn earlier_set(&self) {
        self.earlier.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn due_groups_come_out_in_time_order_once() {
        let d = Deadlines::default();
        let t0 = Instant::now();
        d.set("b", Some(t0 + Duration::from_secs(2)));
        d.set("a", Some(t0 + Duration::from_secs(1)));
        d.set("c", Some(t0 + Duration::from_secs(3)));
        d.set("c", None);
        // Moving a deadline replaces it.
        d.set("b", Some(t0 + Duration::from_secs(5)));
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert!(d.take_due(t0).is_empty());
        assert_eq!(d.take_due(t0 + Duration::from_secs(4)), vec!["a"]);
        assert_eq!(
            d.take_due(t0 + Duration::from_secs(4)),
            Vec::<String>::new()
        );
        assert_eq!(d.take_due(t0 + Duration::from_secs(9)), vec!["b"]);
        assert_eq!(d.next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_wakes_the_sleeper_a_later_one_does_not() {
        let d = Deadlines::default();
        let t0 = Instant::now();
        d.set("a", Some(t0 + Duration::from_secs(10)));
        // The first deadline is the earliest: one stored wake-up.
        d.earlier_set().await;
        d.set("b", Some(t0 + Duration::from_secs(20)));
        let woke = tokio::time::timeout(Duration::from_secs(1), d.earlier_set()).await;
        assert!(woke.is_err(), "a later deadline needs no wake-up");
        d.set("c", Some(t0 + Duration::from_secs(5)));
        tokio::time::timeout(Duration::from_secs(1), d.earlier_set())
            .await
            .expect("an earlier deadline wakes the sleeper");
    }
}
