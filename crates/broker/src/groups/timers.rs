//! Deadlines of a group, checked by the coordinator's ticker: pending member
//! ids, member sessions, the (initial) join wait and the sync wait.

use tokio::time::Instant;

use super::group::Group;
use super::state::GroupState;

impl Group {
    /// Acts on every deadline that has passed by `now`.
    pub fn tick(&mut self, now: Instant) {
        let before = self.pending.len();
        self.pending.retain(|_, deadline| *deadline > now);
        if self.pending.len() != before {
            self.maybe_complete_join(now);
        }

        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.is_waiting() && m.heartbeat_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member(&id, now);
        }

        if self.state == GroupState::PreparingRebalance {
            if let Some(mut delay) = self.initial_delay {
                if delay.deadline <= now {
                    if delay.new_member_added && !delay.remaining.is_zero() {
                        // More members arrived: wait another delay, within the
                        // rebalance timeout.
                        let step = delay.remaining.min(delay.step);
                        delay.deadline = now + step;
                        delay.remaining = delay.remaining.saturating_sub(step);
                        delay.new_member_added = false;
                        self.initial_delay = Some(delay);
                    } else {
                        self.complete_join(now);
                    }
                }
            } else if self.join_deadline.is_some_and(|d| d <= now) {
                self.complete_join(now);
            }
        }

        if self.state == GroupState::CompletingRebalance
            && self.sync_deadline.is_some_and(|d| d <= now)
        {
            // The leader never sent the assignment: drop who did not sync.
            let missing: Vec<String> = self
                .members
                .iter()
                .filter(|m| m.awaiting_sync.is_none())
                .map(|m| m.id.clone())
                .collect();
            tracing::info!(group = %self.id, ?missing, "sync timed out");
            for id in missing {
                self.drop_member(&id);
            }
            self.trigger_rebalance(now, std::time::Duration::ZERO);
        }
    }

    /// The earliest deadline, if any (lets tests and the ticker know).
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self
            .members
            .iter()
            .filter(|m| !m.is_waiting())
            .map(|m| m.heartbeat_deadline);
        members
            .chain(self.pending.values().copied())
            .chain(self.join_deadline)
            .chain(self.initial_delay.map(|d| d.deadline))
            .chain(self.sync_deadline)
            .min()
    }
}
