//! Linearizable reads through read index: the leader confirms it still leads with a heartbeat
//! round started after the request, then answers with its commit index (once it has committed an
//! entry of its own term, so the index covers every earlier committed write).
//!
//! With [`Config::lease_reads`](super::Config::lease_reads), the leader answers at once while its
//! lease holds: every heartbeat round is numbered and timed, and a round a majority acknowledged
//! extends the lease to `election_ticks - lease_margin_ticks` after that round was sent.
//!
//! Membership changes keep the lease sound because acknowledgments are counted against the
//! leader's *current* membership (a change counts from the moment its entry is appended) and
//! changes go one at a time, each durable before the next: any majority of the configuration a
//! round was confirmed in overlaps any majority of a configuration a candidate can campaign in,
//! so some voter that acknowledged the round refuses votes until the lease is over.
//! `tests/core_lease.rs` grows, shrinks and partitions a group around the cut (counting with the
//! initial membership's quorum instead fails it).

use std::collections::{BTreeMap, VecDeque};

use super::state::{Message, NodeId, Output, RoleKind};
use super::Raft;

/// Pending reads and the heartbeat rounds that confirm them.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// The latest round number.
    seq: u64,
    /// (caller id, round) in request order.
    pending: Vec<(u64, u64)>,
    /// The highest round each follower answered in this leadership.
    acked: BTreeMap<NodeId, u64>,
    /// (round, tick it was sent) of rounds not yet confirmed by a majority.
    sent: VecDeque<(u64, u64)>,
    /// The sending tick of the latest round a majority confirmed: the lease's start.
    lease_from: Option<u64>,
    /// A leadership transfer began: no lease for the rest of the term.
    lease_revoked: bool,
    /// Reads answered under the lease, ever (observability and tests).
    pub(super) lease_served: u64,
}

impl Reads {
    /// Starts a heartbeat round sent at tick `now`; its number.
    pub(super) fn new_round(&mut self, now: u64) -> u64 {
        self.seq += 1;
        self.sent.push_back((self.seq, now));
        // Bounded: a leader that never hears back keeps only the latest rounds' times.
        if self.sent.len() > 1024 {
            self.sent.pop_front();
        }
        self.seq
    }

    pub(super) fn reset(&mut self) {
        self.pending.clear();
        self.acked.clear();
        self.sent.clear();
        self.lease_from = None;
        self.lease_revoked = false;
    }

    pub(super) fn revoke_lease(&mut self) {
        self.lease_revoked = true;
        self.lease_from = None;
    }

    /// Round `confirmed` (and every earlier one) was acknowledged by a majority.
    fn confirm(&mut self, confirmed: u64) {
        while let Some(&(seq, at)) = self.sent.front() {
            if seq > confirmed {
                break;
            }
            self.sent.pop_front();
            if !self.lease_revoked {
                self.lease_from = Some(self.lease_from.map_or(at, |t| t.max(at)));
            }
        }
    }
}

impl Raft {
    /// Whether the leader lease holds now (see [`Config::lease_reads`](super::Config)).
    pub(super) fn lease_valid(&self) -> bool {
        let span = u64::from(
            self.cfg
                .election_ticks
                .saturating_sub(self.cfg.lease_margin_ticks.max(1)),
        );
        self.cfg.lease_reads
            && self.cfg.check_quorum
            && self.role == RoleKind::Leader
            && self.transfer.is_none()
            && self
                .reads
                .lease_from
                .is_some_and(|from| self.now < from + span)
    }

    pub(super) fn read_index(&mut self, id: u64) {
        if self.role != RoleKind::Leader {
            let leader = self.leader;
            self.out.push(Output::ReadFailed { id, leader });
            return;
        }
        if self.lease_valid() && self.log.term(self.commit) == Some(self.hs.term) {
            let index = self.commit;
            self.reads.lease_served += 1;
            self.out.push(Output::ReadReady { id, index });
            return;
        }
        let seq = self.reads.new_round(self.now);
        self.reads.pending.push((id, seq));
        let term = self.hs.term;
        for p in self.peers() {
            let matched = self.progress.get(&p).map_or(0, |pr| pr.matched);
            let commit = self.commit.min(matched);
            let durable = self.durable.min(commit);
            let floor = self.compaction_floor();
            self.send(
                p,
                Message::Heartbeat {
                    term,
                    commit,
                    durable,
                    floor,
                    seq,
                },
            );
        }
        self.resolve_reads();
    }

    pub(super) fn on_read_ack(&mut self, from: NodeId, seq: u64) {
        let acked = self.reads.acked.entry(from).or_insert(0);
        *acked = (*acked).max(seq);
        if self.cfg.lease_reads {
            let confirmed = self.confirmed_round();
            self.reads.confirm(confirmed);
        }
        self.resolve_reads();
    }

    /// The latest round a majority (the leader included) acknowledged.
    fn confirmed_round(&self) -> u64 {
        let members = self.configs.current().1;
        let mut acks: Vec<u64> = self
            .reads
            .acked
            .iter()
            .filter(|(id, _)| members.is_voter(**id))
            .map(|(_, seq)| *seq)
            .collect();
        acks.push(u64::MAX); // the leader itself
        acks.sort_unstable_by(|a, b| b.cmp(a));
        acks.get(members.quorum() - 1).copied().unwrap_or(0)
    }

    /// Answers every read whose round a majority confirmed, once the commit index is of this term.
    pub(super) fn resolve_reads(&mut self) {
        if self.reads.pending.is_empty() || self.log.term(self.commit) != Some(self.hs.term) {
            return;
        }
        let confirmed = self.confirmed_round();
        let index = self.commit;
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .reads
            .pending
            .drain(..)
            .partition(|&(_, seq)| seq <= confirmed);
        self.reads.pending = waiting;
        for (id, _) in ready {
            self.out.push(Output::ReadReady { id, index });
        }
    }

    pub(super) fn fail_reads(&mut self) {
        let leader = self.leader;
        for (id, _) in std::mem::take(&mut self.reads.pending) {
            self.out.push(Output::ReadFailed { id, leader });
        }
        self.reads.acked.clear();
    }
}
