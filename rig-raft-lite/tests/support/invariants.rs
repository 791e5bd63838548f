//! Raft's safety properties, checked after every step of the cluster harness.

use std::collections::BTreeMap;

use bytes::Bytes;
use rig_raft_lite::core::{CommitMode, Entry, NodeId, Raft};

use super::cluster::{Crash, Stats};

/// Everything observed so far, across crashes.
#[derive(Debug)]
pub struct Checker {
    /// Whether committed (not only durable) entries must survive: Strict mode, or Volatile mode
    /// without power loss.
    commit_is_safe: bool,
    /// term -> the one leader it had.
    leaders: BTreeMap<u64, NodeId>,
    /// (index, term) -> (data, previous entry's term): one entry per index and term, whose
    /// prefix is fixed too (log matching by induction).
    entries: BTreeMap<(u64, u64), (Bytes, u64)>,
    /// index -> (term, data) of every entry some node saw at or below its safe watermark.
    committed: BTreeMap<u64, (u64, Bytes)>,
    /// index -> the term in which a node first saw it committed.
    committed_in: BTreeMap<u64, u64>,
    /// index -> (term, data) of every entry some state machine applied.
    applied: BTreeMap<u64, (u64, Bytes)>,
    applied_upto: BTreeMap<NodeId, u64>,
    /// Per node: what its state machine holds, index -> (term, data) (kept across crashes and
    /// cut back to where the node restarts; replaced by an installed snapshot).
    states: BTreeMap<NodeId, BTreeMap<u64, (u64, Bytes)>>,
    max_commit: u64,
}

/// A state machine's state through some index, as a snapshot holds it.
fn encode_state(state: &BTreeMap<u64, (u64, Bytes)>) -> Bytes {
    let mut out = Vec::new();
    for (i, (term, data)) in state {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&term.to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    Bytes::from(out)
}

fn decode_state(mut buf: &[u8]) -> BTreeMap<u64, (u64, Bytes)> {
    let mut state = BTreeMap::new();
    let word = |buf: &mut &[u8]| {
        let (w, rest) = buf.split_at(8);
        *buf = rest;
        u64::from_le_bytes(w.try_into().expect("8 bytes"))
    };
    while !buf.is_empty() {
        let (i, term, len) = (word(&mut buf), word(&mut buf), word(&mut buf));
        let (data, rest) = buf.split_at(len as usize);
        state.insert(i, (term, Bytes::copy_from_slice(data)));
        buf = rest;
    }
    state
}

impl Checker {
    /// A checker for this mode and crash kind.
    pub fn new(mode: CommitMode, crash: Crash) -> Self {
        Self {
            commit_is_safe: mode == CommitMode::Strict || crash == Crash::Process,
            leaders: BTreeMap::new(),
            entries: BTreeMap::new(),
            committed: BTreeMap::new(),
            committed_in: BTreeMap::new(),
            applied: BTreeMap::new(),
            applied_upto: BTreeMap::new(),
            states: BTreeMap::new(),
            max_commit: 0,
        }
    }

    /// The highest safe watermark any node reached (a read issued now must see at least this).
    pub fn max_commit(&self) -> u64 {
        self.max_commit
    }

    fn safe(&self, r: &Raft) -> u64 {
        if self.commit_is_safe {
            r.commit()
        } else {
            r.durable()
        }
    }

    /// A node (re)started with its state machine at `applied` (its snapshot, or its
    /// compaction point).
    pub fn restarted(&mut self, id: NodeId, applied: u64) {
        self.applied_upto.insert(id, applied);
        self.states
            .entry(id)
            .or_default()
            .retain(|&i, _| i <= applied);
    }

    /// Node `id`'s state through `index` as a snapshot would hold it, when the checker knows
    /// every entry of it.
    pub fn state_of(&self, id: NodeId, index: u64) -> Option<Bytes> {
        let state = self.states.get(&id)?;
        let known = state.len() as u64 == index && state.keys().next_back() == Some(&index);
        (known || index == 0 && state.is_empty()).then(|| encode_state(state))
    }

    /// Node `id` installed a snapshot through `index` holding `content`: it must be a state
    /// machine's history (state machine safety), and becomes the node's state.
    pub fn installed(&mut self, id: NodeId, index: u64, content: &[u8]) {
        let state = decode_state(content);
        assert!(
            state.len() as u64 == index && state.keys().next_back().is_none_or(|&i| i == index),
            "node {id}: a snapshot through {index} with {} entries",
            state.len()
        );
        if self.commit_is_safe {
            for (&i, (term, data)) in &state {
                let seen = self.applied.entry(i).or_insert((*term, data.clone()));
                assert_eq!(
                    *seen,
                    (*term, data.clone()),
                    "node {id}: installed snapshot differs at {i}"
                );
            }
        }
        self.applied_upto.insert(id, index);
        self.states.insert(id, state);
    }

    /// A node's state machine applied `entries`.
    pub fn applied(&mut self, id: NodeId, entries: &[Entry]) {
        let upto = self.applied_upto.entry(id).or_insert(0);
        let state = self.states.entry(id).or_default();
        for e in entries {
            assert_eq!(e.index, *upto + 1, "node {id} applied out of order");
            *upto = e.index;
            state.insert(e.index, (e.term, e.data.clone()));
            if self.commit_is_safe {
                let seen = self
                    .applied
                    .entry(e.index)
                    .or_insert((e.term, e.data.clone()));
                assert_eq!(
                    *seen,
                    (e.term, e.data.clone()),
                    "state machine safety at {}",
                    e.index
                );
            }
        }
    }

    /// Checks every property that node `id`'s last step could have broken.
    pub fn check(&mut self, id: NodeId, nodes: &[Option<Raft>], stats: &mut Stats) {
        let Some(r) = nodes[(id - 1) as usize].as_ref() else {
            return;
        };
        let (compacted, applied, commit, last) =
            (r.compacted(), r.applied(), r.commit(), r.last_index());
        // After a majority lost power in Volatile mode, a new leader may replace committed
        // (not durable) entries on a follower, leaving its commit index above its log's end
        // (the documented loss); the durable watermark never goes past it.
        let end = if self.commit_is_safe {
            commit
        } else {
            r.durable()
        };
        assert!(
            compacted <= applied
                && applied <= commit
                && end <= last
                && r.durable() <= commit,
            "node {id}: compacted {compacted} applied {applied} commit {commit} last {last} durable {}",
            r.durable()
        );
        if let Some(snap) = r.snapshot_meta() {
            // compacted <= snapshot <= applied: the log never drops what the snapshot lacks.
            assert!(
                compacted <= snap.index && snap.index <= applied,
                "node {id}: compacted {compacted} snapshot {} applied {applied}",
                snap.index
            );
        }
        if r.is_leader() {
            let first = *self.leaders.entry(r.term()).or_insert_with(|| {
                stats.elections += 1;
                id
            });
            assert_eq!(first, id, "two leaders in term {}", r.term());
        }
        let log = r.log();
        for e in log.entries() {
            let prev_term = log.term(e.index - 1).expect("contiguous log");
            let seen = self
                .entries
                .entry((e.index, e.term))
                .or_insert_with(|| (e.data.clone(), prev_term));
            assert_eq!(
                *seen,
                (e.data.clone(), prev_term),
                "log matching at {}/{}",
                e.index,
                e.term
            );
        }
        let safe = self.safe(r);
        self.max_commit = self.max_commit.max(safe);
        for e in log.entries().iter().take_while(|e| e.index <= safe) {
            let seen = self
                .committed
                .entry(e.index)
                .or_insert((e.term, e.data.clone()));
            assert_eq!(
                *seen,
                (e.term, e.data.clone()),
                "node {id}: committed entry {} changed",
                e.index
            );
        }
        for e in log.entries().iter().take_while(|e| e.index <= safe) {
            // The first term in which some node knew the entry committed: at or above the term
            // that committed it, so every leader of that term or later must hold it.
            self.committed_in.entry(e.index).or_insert(r.term());
        }
        stats.committed = self.committed.len() as u64;
        for leader in nodes.iter().flatten().filter(|r| r.is_leader()) {
            let log = leader.log();
            for (&i, (t, d)) in self.committed.range(log.offset() + 1..) {
                // A deposed leader that has not heard of the newer term yet may lack entries
                // committed in that term (Raft's leader completeness is for later terms).
                if self
                    .committed_in
                    .get(&i)
                    .is_some_and(|&c| leader.term() < c)
                {
                    continue;
                }
                let has = log.term(i) == Some(*t)
                    && log.entries()[(i - log.offset() - 1) as usize].data == d;
                assert!(
                    has,
                    "leader {} of term {} lacks committed entry {i}",
                    leader.id(),
                    leader.term()
                );
            }
        }
    }
}
