//! Compaction: dropping applied entries from the log.
//!
//! Without snapshot streaming (part 1), a leader can only serve followers from its log, so the
//! group compacts only through the *floor*: a prefix that is committed and durable on every voter.
//! The leader computes it from its progress and announces it in heartbeats; a follower that later
//! becomes leader therefore never lacks an entry another voter still needs.

use super::state::{Output, RoleKind};
use super::Raft;

impl Raft {
    /// The prefix every voter holds durably (leader's view).
    pub(super) fn compaction_floor(&self) -> u64 {
        let me = self.cfg.id;
        self.progress
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(_, pr)| pr.persisted)
            .fold(self.commit.min(self.persisted), u64::min)
    }

    /// Drops entries through `index`, capped at what was applied and at the floor.
    pub(super) fn compact(&mut self, index: u64) {
        let floor = if self.role == RoleKind::Leader {
            self.compaction_floor()
        } else {
            self.floor
        };
        let through = index.min(self.applied).min(floor).min(self.persisted);
        if through > self.log.offset() {
            self.log.compact(through);
            self.configs.compact(through);
            self.out.push(Output::Compacted(through));
        }
    }
}
