//! Linearizable reads through read index: the leader confirms it still leads with a heartbeat
//! round started after the request, then answers with its commit index (once it has committed an
//! entry of its own term, so the index covers every earlier committed write).

use std::collections::BTreeMap;

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
}

impl Reads {
    pub(super) fn seq(&self) -> u64 {
        self.seq
    }

    pub(super) fn reset(&mut self) {
        self.pending.clear();
        self.acked.clear();
    }
}

impl Raft {
    pub(super) fn read_index(&mut self, id: u64) {
        if self.role != RoleKind::Leader {
            let leader = self.leader;
            self.out.push(Output::ReadFailed { id, leader });
            return;
        }
        self.reads.seq += 1;
        let seq = self.reads.seq;
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
        self.resolve_reads();
    }

    /// Answers every read whose round a majority confirmed, once the commit index is of this term.
    pub(super) fn resolve_reads(&mut self) {
        if self.reads.pending.is_empty() || self.log.term(self.commit) != Some(self.hs.term) {
            return;
        }
        let mut acks: Vec<u64> = self.reads.acked.values().copied().collect();
        acks.push(u64::MAX); // the leader itself
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acks.get(self.cfg.quorum() - 1).copied().unwrap_or(0);
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
