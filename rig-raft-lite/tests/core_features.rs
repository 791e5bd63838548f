//! Directed scenarios for the core's features: pre-vote, check-quorum, leadership transfer,
//! pipelining with bounded in-flight appends, read index, and Volatile mode's documented loss.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use rig_core::seams::SeededRand;
use rig_raft_lite::core::{
    CommitMode, Config, Entry, HardState, Input, Message, NodeId, Output, Raft, Restored, RoleKind,
};

/// A hand-driven group: messages queue FIFO; `cut` drops them; `auto_sync` persists at once.
struct Group {
    nodes: Vec<Raft>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    cut: BTreeSet<NodeId>,
    auto_sync: bool,
    written: Vec<Vec<Entry>>,
    hard: Vec<HardState>,
    seed: u64,
    reads: Vec<(NodeId, u64, u64)>,
}

impl Group {
    fn new(n: u64, mode: CommitMode, seed: u64) -> Self {
        let nodes = (1..=n)
            .map(|id| {
                let mut cfg = Config::new(id, (1..=n).collect());
                cfg.commit_mode = mode;
                cfg.max_inflight = 2;
                cfg.max_batch = 1;
                Raft::new(
                    cfg,
                    Box::new(SeededRand::new(seed * 10 + id)),
                    Restored::default(),
                )
            })
            .collect();
        Self {
            nodes,
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            auto_sync: true,
            written: vec![Vec::new(); n as usize],
            hard: vec![HardState::default(); n as usize],
            seed,
            reads: Vec::new(),
        }
    }

    /// Restarts `id` from what it wrote (its hard state is always synced).
    fn restart(&mut self, id: NodeId) {
        let cfg = self.node(id).config().clone();
        let restored = Restored {
            hard_state: self.hard[(id - 1) as usize],
            entries: self.written[(id - 1) as usize].clone(),
            ..Restored::default()
        };
        let rand = Box::new(SeededRand::new(self.seed * 100 + id));
        self.nodes[(id - 1) as usize] = Raft::new(cfg, rand, restored);
    }

    fn node(&self, id: NodeId) -> &Raft {
        &self.nodes[(id - 1) as usize]
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let raft = &mut self.nodes[(id - 1) as usize];
        raft.step(input);
        for out in raft.take_outputs() {
            match out {
                Output::Send(to, msg) => self.queue.push_back((id, to, msg)),
                Output::PersistEntries(entries, _) => {
                    let w = &mut self.written[(id - 1) as usize];
                    w.truncate((entries[0].index - 1) as usize);
                    w.extend(entries);
                }
                Output::ReadReady { id: rid, index } => self.reads.push((id, rid, index)),
                Output::PersistHardState(hs) => self.hard[(id - 1) as usize] = hs,
                _ => {}
            }
        }
        if self.auto_sync {
            self.sync(id);
        }
    }

    fn sync(&mut self, id: NodeId) {
        let last = self.written[(id - 1) as usize]
            .last()
            .map(|e| (e.index, e.term));
        let raft = &mut self.nodes[(id - 1) as usize];
        if let Some((index, term)) = last.filter(|&(i, _)| i > raft.persisted()) {
            raft.step(Input::Persisted { index, term });
            let outs = raft.take_outputs();
            for out in outs {
                if let Output::Send(to, msg) = out {
                    self.queue.push_back((id, to, msg));
                }
            }
        }
    }

    /// Delivers queued messages (dropping those to or from cut nodes) until none are left.
    fn settle(&mut self) {
        while let Some((from, to, msg)) = self.queue.pop_front() {
            if !self.cut.contains(&from) && !self.cut.contains(&to) {
                self.input(to, Input::Message(from, msg));
            }
        }
    }

    fn tick_all(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for id in 1..=self.nodes.len() as u64 {
                self.input(id, Input::Tick);
            }
            self.settle();
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes.iter().find(|r| r.is_leader()).map(Raft::id)
    }

    fn elect(&mut self) -> NodeId {
        self.tick_all(60);
        self.leader()
            .expect("a leader within 60 ticks of a healthy group")
    }
}

fn others(leader: NodeId, n: u64) -> Vec<NodeId> {
    (1..=n).filter(|&i| i != leader).collect()
}

#[test]
fn pre_vote_keeps_an_isolated_node_from_inflating_terms() {
    let mut g = Group::new(3, CommitMode::Strict, 1);
    let leader = g.elect();
    let term = g.node(leader).term();
    let lonely = others(leader, 3)[0];
    g.cut.insert(lonely);
    g.tick_all(200);
    assert_eq!(
        g.node(lonely).term(),
        term,
        "pre-vote never raised the term"
    );
    g.cut.clear();
    g.tick_all(40);
    assert_eq!(
        g.leader(),
        Some(leader),
        "rejoining did not depose the leader"
    );
    assert_eq!(g.node(leader).term(), term);
}

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    let mut g = Group::new(3, CommitMode::Strict, 2);
    let leader = g.elect();
    g.cut.insert(leader);
    g.tick_all(40);
    assert_ne!(g.node(leader).role(), RoleKind::Leader);
    let others = others(leader, 3);
    assert!(
        others.iter().any(|&i| g.node(i).is_leader()),
        "the majority elected a new leader"
    );
}

#[test]
fn leadership_transfer_hands_over_to_the_target() {
    let mut g = Group::new(5, CommitMode::Strict, 3);
    let leader = g.elect();
    let target = others(leader, 5)[2];
    g.input(leader, Input::Propose(vec![Bytes::from_static(b"a")]));
    g.settle();
    g.input(leader, Input::TransferLeader(target));
    g.settle();
    assert_eq!(g.leader(), Some(target));
    assert!(g.node(target).term() > 1);
}

#[test]
fn appends_pipeline_up_to_the_in_flight_bound() {
    let mut g = Group::new(3, CommitMode::Strict, 4);
    let leader = g.elect();
    // Hold every message: count appends the leader sends without any answer.
    for i in 0..20u8 {
        g.input(leader, Input::Propose(vec![Bytes::from(vec![i])]));
    }
    let per_follower = |f: NodeId| {
        g.queue
            .iter()
            .filter(|(from, to, m)| {
                *from == leader && *to == f && matches!(m, Message::Append { .. })
            })
            .count()
    };
    for f in others(leader, 3) {
        // max_inflight = 2: more than one in flight (pipelining), never more than two (flow control).
        assert_eq!(per_follower(f), 2, "follower {f}");
    }
    g.settle();
    let last = g.node(leader).last_index();
    assert_eq!(g.node(leader).commit(), last, "the pipeline drained");
    g.tick_all(4);
    assert!(
        g.nodes.iter().all(|r| r.commit() == last),
        "heartbeats carried the commit"
    );
}

#[test]
fn read_index_confirms_leadership_with_a_majority() {
    let mut g = Group::new(3, CommitMode::Strict, 5);
    let leader = g.elect();
    let commit = g.node(leader).commit();
    g.input(leader, Input::ReadIndex(7));
    assert!(g.reads.is_empty(), "no answer before a majority confirms");
    g.settle();
    assert_eq!(g.reads, vec![(leader, 7, commit)]);
    // An isolated leader cannot confirm a read.
    g.cut.insert(leader);
    g.input(leader, Input::ReadIndex(8));
    g.settle();
    assert_eq!(g.reads.len(), 1);
}

#[test]
fn strict_mode_commits_only_what_a_majority_persisted() {
    let mut g = Group::new(3, CommitMode::Strict, 6);
    let leader = g.elect();
    g.auto_sync = false;
    g.input(leader, Input::Propose(vec![Bytes::from_static(b"x")]));
    g.settle();
    let last = g.node(leader).last_index();
    assert!(
        g.node(leader).commit() < last,
        "received everywhere, persisted nowhere"
    );
    let f = others(leader, 3)[0];
    g.sync(f);
    g.settle();
    assert!(
        g.node(leader).commit() < last,
        "one follower's fsync is not a majority"
    );
    g.sync(leader);
    g.settle();
    assert_eq!(g.node(leader).commit(), last);
    assert_eq!(g.node(leader).durable(), last);
}

#[test]
fn volatile_mode_commits_on_receipt_and_reports_durable_separately() {
    let mut g = Group::new(3, CommitMode::Volatile, 7);
    let leader = g.elect();
    g.auto_sync = false;
    g.input(leader, Input::Propose(vec![Bytes::from_static(b"x")]));
    g.settle();
    let last = g.node(leader).last_index();
    assert_eq!(
        g.node(leader).commit(),
        last,
        "committed once a majority received it"
    );
    assert!(g.node(leader).durable() < last, "not yet durable anywhere");
    // The background sync makes it durable on a majority.
    let f = others(leader, 3)[0];
    g.sync(leader);
    g.sync(f);
    g.settle();
    assert_eq!(g.node(leader).durable(), last);
}

#[test]
fn volatile_mode_loses_a_committed_entry_when_its_majority_loses_power_before_the_sync() {
    let mut g = Group::new(3, CommitMode::Volatile, 8);
    let leader = g.elect();
    let (f, outsider) = (others(leader, 3)[0], others(leader, 3)[1]);
    g.auto_sync = false;
    g.cut.insert(outsider);
    g.input(leader, Input::Propose(vec![Bytes::from_static(b"acked")]));
    g.settle();
    let index = g.node(leader).last_index();
    assert_eq!(
        g.node(leader).commit(),
        index,
        "acknowledged at Applied in Volatile mode"
    );
    assert!(g.node(leader).durable() < index);
    // Both nodes that received it lose power before the background sync.
    for id in [leader, f] {
        g.written[(id - 1) as usize].retain(|e| e.index < index);
        g.restart(id);
    }
    g.cut.clear();
    g.auto_sync = true;
    let new_leader = g.elect();
    g.input(
        new_leader,
        Input::Propose(vec![Bytes::from_static(b"other")]),
    );
    g.settle();
    let log = g.node(new_leader).log();
    let at = &log.entries()[(index - 1) as usize];
    assert_ne!(
        at.data,
        Bytes::from_static(b"acked"),
        "the committed-not-durable entry is gone"
    );
    assert!(g.nodes.iter().all(|r| r.commit() >= index));
}
