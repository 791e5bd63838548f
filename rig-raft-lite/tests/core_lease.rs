//! Leader-lease reads on sans-IO cores in lockstep: a leader answers reads at once while its
//! lease holds, and once it is cut off its lease ends *before* any other node becomes leader,
//! including when followers restart at the cut (they forgot whom they heard from) and when the
//! followers' clocks run faster than the leader's (within the lease's drift margin), and when
//! the membership changes (observers added and promoted, followers removed) around the cut.

use std::collections::BTreeSet;

use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::{
    Change, CommitMode, Config, Input, NodeId, Output, Raft, Restored, RoleKind,
};

struct Lockstep {
    nodes: Vec<Raft>,
    /// One side of a partition (they still reach each other).
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
        Self::with_nodes(seed, 3)
    }

    /// Nodes `1..=n`; the group starts as voters 1-3, the others wait to be added.
    fn with_nodes(seed: u64, n: u64) -> Self {
        let nodes = (1..=n)
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
                        if self.linked(from, to) {
                            queue.push(((to - 1) as usize, Input::Message(from, msg)));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The cut-off nodes form one side of a partition, the rest the other.
    fn linked(&self, a: NodeId, b: NodeId) -> bool {
        self.cut_off.contains(&a) == self.cut_off.contains(&b)
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
                if self.linked(from, to) {
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

/// Ticks every node once.
fn tick_all(g: &mut Lockstep) {
    for i in 0..g.nodes.len() {
        g.tick(i);
    }
}

/// Which membership change is the last one started before the leader is cut off.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Node 4 was added as an observer (perhaps already promoted).
    Added,
    /// Node 4 is a voter and one of the first followers is being removed.
    Removing,
    /// Nodes 4 and 5 are both voters (five in all).
    Grown,
}

/// The time line of one seed: when the first leader last answered a read under its lease, and
/// when another node first became leader.
#[derive(Default)]
struct Watch {
    now: u64,
    last_lease: Option<u64>,
    other_leader: Option<u64>,
}

impl Watch {
    /// One round: every node ticks (the others twice every `fast_every` rounds: clocks up to 10%
    /// fast), the first leader tries a lease read, and any other leader is noted.
    fn round(&mut self, g: &mut Lockstep, old: usize, fast_every: u64) {
        self.now += 1;
        for i in 0..g.nodes.len() {
            g.tick(i);
            if i != old && fast_every > 0 && self.now.is_multiple_of(fast_every) {
                g.tick(i);
            }
        }
        if g.nodes[old].role() == RoleKind::Leader && g.lease_read(old) {
            self.last_lease = Some(self.now);
        }
        let elected = (0..g.nodes.len()).any(|i| i != old && g.nodes[i].is_leader());
        if elected && self.other_leader.is_none() {
            self.other_leader = Some(self.now);
        }
    }
}

/// One seed: a 3-voter group grows (node 4 added, then promoted by the leader; for `Grown` node
/// 5 too) or loses one of its first followers, while the leader serves lease reads. Then 1-3
/// followers are cut off long enough to want an election, so the lease rests on the others'
/// acknowledgments counted against the *current* membership; then the leader is cut off, with
/// the others' clocks running fast within the margin. A majority of any configuration a
/// candidate can use overlaps the majority that confirmed the lease (one change at a time), so
/// no node may become leader before the lease's last read. Returns whether a lease read and a
/// later election both happened (the case that tests it).
fn lease_survives_membership_changes(seed: u64) -> bool {
    let rand = SeededRand::new(seed);
    let mut g = Lockstep::with_nodes(seed, 5);
    let mut w = Watch::default();
    let mut ticks = 0;
    let old = loop {
        tick_all(&mut g);
        ticks += 1;
        assert!(ticks < 1000, "seed {seed}: no leader");
        if let Some(l) = g.leader() {
            if g.nodes[l].commit() >= 1 {
                break l;
            }
        }
    };
    let stage = match rand.below(3) {
        0 => Stage::Added,
        1 => Stage::Removing,
        _ => Stage::Grown,
    };
    let settle = |g: &mut Lockstep, w: &mut Watch| {
        let mut budget = 0;
        while g.nodes[old].change_pending() {
            w.round(g, old, 0);
            budget += 1;
            assert!(budget < 500, "seed {seed}: a change never became durable");
        }
    };
    let add = |g: &mut Lockstep, w: &mut Watch, id: NodeId| {
        let change = Change::AddObserver {
            id,
            addr: format!("n{id}"),
        };
        g.step(old, Input::ChangeMembership(change));
        // The leader promotes the observer once it caught up (unless the seed cuts in before).
        let mut budget = 0;
        while stage != Stage::Added && !g.nodes[old].membership().is_voter(id) {
            w.round(g, old, 0);
            budget += 1;
            assert!(budget < 500, "seed {seed}: node {id} never promoted");
        }
    };
    add(&mut g, &mut w, 4);
    match stage {
        Stage::Added => {}
        Stage::Removing => {
            settle(&mut g, &mut w);
            let leaving = g.nodes[(old + 1) % 3].id();
            g.step(old, Input::ChangeMembership(Change::Remove(leaving)));
        }
        Stage::Grown => {
            settle(&mut g, &mut w);
            add(&mut g, &mut w, 5);
        }
    }
    for _ in 0..rand.below(6) {
        w.round(&mut g, old, 0);
    }
    // Partition 1-3 of the other nodes off for longer than an election timeout (with a
    // majority among them they elect a leader of their own, which the lease must not overlap).
    let others: Vec<usize> = (0..g.nodes.len()).filter(|&i| i != old).collect();
    for _ in 0..=rand.below(3) {
        let i = others[rand.below(others.len() as u64) as usize];
        g.cut_off.insert(g.nodes[i].id());
    }
    for _ in 0..30 {
        w.round(&mut g, old, 0);
    }
    g.cut_off.clear();
    g.cut_off.insert(g.nodes[old].id());
    let fast_every = 10 + rand.below(10);
    for _ in 0..400 {
        w.round(&mut g, old, fast_every);
    }
    match (w.last_lease, w.other_leader) {
        (Some(last), Some(new)) => {
            assert!(
                last < new,
                "seed {seed} ({stage:?}): lease read at tick {last}, another leader at {new}"
            );
            true
        }
        _ => false,
    }
}

#[test]
fn a_lease_ends_before_another_leader_across_membership_changes() {
    let tested = (0..300)
        .filter(|&seed| lease_survives_membership_changes(seed))
        .count();
    // Most seeds serve a lease read and then elect another leader; the rest (the cut left no
    // majority) show nothing and must stay the minority, or the test proves little.
    eprintln!("{tested} of 300 seeds served a lease read and later elected another leader");
    assert!(tested > 150, "only {tested} of 300 seeds tested the lease");
}
