//! Leader-lease reads on sans-IO cores in lockstep: a leader answers reads at once while its
//! lease holds, and once it is cut off its lease ends *before* any other node becomes leader,
//! including when followers restart at the cut (they forgot whom they heard from) and when the
//! followers' clocks run faster than the leader's (within the lease's drift margin).

use std::collections::BTreeSet;

use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::{CommitMode, Config, Input, NodeId, Output, Raft, Restored, RoleKind};

struct Lockstep {
    nodes: Vec<Raft>,
    cut_off: BTreeSet<NodeId>,
    reads: u64,
}

fn config(id: NodeId) -> Config {
    let mut c = Config::new(id, vec![1, 2, 3]);
    c.commit_mode = CommitMode::Volatile;
    c.lease_reads = true;
    c
}

impl Lockstep {
    fn new(seed: u64) -> Self {
        let nodes = (1..=3)
            .map(|id| {
                Raft::new(
                    config(id),
                    Box::new(SeededRand::new(seed * 7 + id)),
                    Restored::default(),
                )
            })
            .collect();
        Self {
            nodes,
            cut_off: BTreeSet::new(),
            reads: 0,
        }
    }

    /// Steps node `i` with `input`, then delivers every message until the network is quiet.
    fn step(&mut self, i: usize, input: Input) {
        let mut queue = vec![(i, input)];
        while let Some((i, input)) = queue.pop() {
            self.nodes[i].step(input);
            for out in self.nodes[i].take_outputs() {
                match out {
                    Output::PersistEntries(es, _) => {
                        let last = es.last().expect("entries");
                        queue.push((
                            i,
                            Input::Persisted {
                                index: last.index,
                                term: last.term,
                            },
                        ));
                    }
                    Output::Send(to, msg) => {
                        let from = self.nodes[i].id();
                        if !self.cut_off.contains(&from) && !self.cut_off.contains(&to) {
                            queue.push(((to - 1) as usize, Input::Message(from, msg)));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn tick(&mut self, i: usize) {
        self.step(i, Input::Tick);
    }

    fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(Raft::is_leader)
    }

    /// Asks node `i` for a read; whether the lease answered it at once.
    fn lease_read(&mut self, i: usize) -> bool {
        self.reads += 1;
        let before = self.nodes[i].lease_reads_served();
        let id = self.reads;
        self.nodes[i].step(Input::ReadIndex(id));
        let outs = self.nodes[i].take_outputs();
        let ready = outs
            .iter()
            .any(|o| matches!(o, Output::ReadReady { id: r, .. } if *r == id));
        let by_lease = self.nodes[i].lease_reads_served() > before;
        assert_eq!(ready, by_lease, "only the lease answers without a round");
        // Deliver the heartbeat round a non-lease read started.
        for out in outs {
            if let Output::Send(to, msg) = out {
                let from = self.nodes[i].id();
                if !self.cut_off.contains(&from) && !self.cut_off.contains(&to) {
                    self.step((to - 1) as usize, Input::Message(from, msg));
                }
            }
        }
        by_lease
    }

    /// Restarts node `i` from what it holds (every entry was persisted here).
    fn restart(&mut self, i: usize, seed: u64) {
        let old = &self.nodes[i];
        let restored = Restored {
            hard_state: old.hard_state(),
            snapshot_index: 0,
            snapshot_term: 0,
            entries: old.log().entries().to_vec(),
            membership: None,
            snapshot: None,
        };
        self.nodes[i] = Raft::new(config(old.id()), Box::new(SeededRand::new(seed)), restored);
    }
}

/// One seed: elect, serve lease reads, cut the leader off, then tick in lockstep (followers
/// possibly faster) and record when the old lease last answered and when a new leader appeared.
fn deposed_lease_ends_before_a_new_leader(seed: u64) {
    let rand = SeededRand::new(seed);
    let mut g = Lockstep::new(seed);
    let mut ticks = 0;
    let old = loop {
        for i in 0..3 {
            g.tick(i);
        }
        ticks += 1;
        assert!(ticks < 1000, "seed {seed}: no leader");
        if let Some(l) = g.leader() {
            if g.nodes[l].commit() >= 1 {
                break l;
            }
        }
    };
    let (f1, f2) = ((old + 1) % 3, (old + 2) % 3);
    let variant = rand.below(4);
    if variant == 3 {
        // `f2` is cut off long enough to want an election: the lease rests on `f1` alone.
        g.cut_off.insert(g.nodes[f2].id());
        for _ in 0..30 {
            for i in 0..3 {
                g.tick(i);
            }
        }
    }
    // Heartbeat rounds establish the lease; then reads are answered at once.
    for _ in 0..4 + rand.below(7) {
        for i in 0..3 {
            g.tick(i);
        }
    }
    assert!(
        g.lease_read(old),
        "seed {seed}: a fresh lease answers locally"
    );

    g.cut_off.clear();
    g.cut_off.insert(g.nodes[old].id());
    // Followers that restart at the cut forget whom they heard from; only the quiet period
    // after a restart keeps them from voting for `f2` (variant 3) within the lease.
    match variant {
        1 => g.restart(f1, seed + 1000),
        2 => {
            g.restart(f1, seed + 1000);
            g.restart(f2, seed + 2000);
        }
        3 => g.restart(f1, seed + 1000),
        _ => {}
    }
    // Followers' clocks run up to 10% fast (the margin is 2 ticks of 10).
    let extra_every = 10 + rand.below(10);
    let mut last_lease = None;
    let mut new_leader = None;
    for t in 1..=400u64 {
        g.tick(old);
        for i in (0..3).filter(|&i| i != old) {
            g.tick(i);
            if t % extra_every == 0 {
                g.tick(i);
            }
        }
        if g.nodes[old].role() == RoleKind::Leader && g.lease_read(old) {
            last_lease = Some(t);
        }
        let elected = (0..3).any(|i| i != old && g.nodes[i].is_leader());
        if elected && new_leader.is_none() {
            new_leader = Some(t);
        }
    }
    let new_leader = new_leader.unwrap_or_else(|| panic!("seed {seed}: no new leader"));
    if let Some(last) = last_lease {
        assert!(
            last < new_leader,
            "seed {seed}: lease read at tick {last}, new leader at {new_leader}"
        );
    }
}

#[test]
fn a_deposed_leaders_lease_ends_before_another_leader_is_elected() {
    for seed in 0..200 {
        deposed_lease_ends_before_a_new_leader(seed);
    }
}

#[test]
fn lease_reads_are_off_by_default_and_refused_during_a_transfer() {
    assert!(!Config::new(1, vec![1, 2, 3]).lease_reads);
    let mut g = Lockstep::new(3);
    let l = loop {
        for i in 0..3 {
            g.tick(i);
        }
        if let Some(l) = g.leader() {
            if g.nodes[l].commit() >= 1 {
                break l;
            }
        }
    };
    for _ in 0..4 {
        for i in 0..3 {
            g.tick(i);
        }
    }
    assert!(g.lease_read(l));
    // A transfer lets the target campaign past the followers' lease: no more lease reads.
    let to = g.nodes[(l + 1) % 3].id();
    g.cut_off.insert(to);
    g.step(l, Input::TransferLeader(to));
    assert!(!g.lease_read(l), "no lease read once a transfer began");
}
