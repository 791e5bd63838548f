//! Commit: the `committed` and `durable` watermarks (per [`CommitMode`]), local durability
//! reports, and handing committed entries to the state machine.

use super::state::{CommitMode, Output, RoleKind};
use super::Raft;

/// The highest value that at least `quorum` of `values` reach (no allocation: groups are small).
fn quorum_index(values: &[u64], quorum: usize) -> u64 {
    values
        .iter()
        .copied()
        .filter(|&v| values.iter().filter(|&&w| w >= v).count() >= quorum)
        .max()
        .unwrap_or(0)
}

impl Raft {
    /// Leader: moves the watermarks from the followers' progress and its own log.
    pub(super) fn maybe_commit(&mut self) {
        if self.role != RoleKind::Leader {
            return;
        }
        let me = self.cfg.id;
        let members = self.configs.current().1;
        let peers = self
            .progress
            .iter()
            .filter(|(id, _)| **id != me && members.is_voter(**id));
        let (received, persisted) = &mut self.scratch;
        received.clear();
        persisted.clear();
        received.push(self.log.last_index());
        persisted.push(self.persisted);
        for (_, pr) in peers {
            received.push(pr.matched);
            persisted.push(pr.persisted);
        }
        let q = members.quorum();
        let on_disk = quorum_index(persisted, q);
        let candidate = match self.cfg.commit_mode {
            CommitMode::Strict => on_disk,
            CommitMode::Volatile => quorum_index(received, q),
        };
        let mut commit = self.commit;
        // Only an entry of the leader's own term commits by counting (Raft §5.4.2).
        if candidate > commit && self.log.term(candidate) == Some(self.hs.term) {
            commit = candidate;
        }
        let durable = self.durable.max(on_disk.min(commit));
        self.set_watermarks(commit, durable);
    }

    /// Follower: adopts the leader's watermarks (already capped at what matches the leader).
    pub(super) fn advance_follower_commit(&mut self, commit: u64, durable: u64) {
        let commit = self.commit.max(commit);
        let durable = self.durable.max(durable.min(commit));
        self.set_watermarks(commit, durable);
    }

    fn set_watermarks(&mut self, commit: u64, durable: u64) {
        if commit == self.commit && durable == self.durable {
            return;
        }
        let commit_moved = commit > self.commit;
        self.commit = commit;
        self.durable = durable;
        self.out.push(Output::Watermarks {
            committed: commit,
            durable,
        });
        if commit_moved {
            self.apply();
            if self.role == RoleKind::Leader {
                self.resolve_reads();
                if self.transfer.is_some() {
                    self.maybe_send_timeout_now();
                }
            }
        }
    }

    fn apply(&mut self) {
        if self.commit > self.applied {
            let entries = self.log.slice(self.applied + 1, self.commit, usize::MAX);
            self.applied = self.commit;
            self.out.push(Output::Apply(entries));
        }
    }

    /// The local log became durable through `index` (whose entry had `term`).
    pub(super) fn on_persisted(&mut self, index: u64, term: u64) {
        let index = index.min(self.log.last_index());
        if index <= self.persisted || self.log.term(index) != Some(term) {
            return;
        }
        self.persisted = index;
        if self.role == RoleKind::Leader {
            self.maybe_commit();
        } else {
            self.ack_leader();
        }
    }
}
