//! An in-test cluster of sans-IO cores: seeded message drops, duplication, reordering, partitions,
//! crashes (losing unsynced writes on power loss) and restarts, with Raft's safety properties
//! checked after every step.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::stream::encode_frames;
use rig_raft_lite::core::{
    is_control, Change, CommitMode, Config, Entry, HardState, Input, Message, NodeId, Output, Raft,
    Restored, SnapshotImage, StoredMembership,
};

use super::invariants::Checker;

#[path = "cluster_snapshots.rs"]
mod snapshots;

/// One node's disk: what survives a crash.
#[derive(Debug, Default, Clone)]
struct Disk {
    hs: HardState,
    offset: u64,
    offset_term: u64,
    /// Written entries after `offset` (in the page cache).
    written: Vec<Entry>,
    /// Synced entries after `offset`.
    synced: Vec<Entry>,
    /// The membership file (written with fsync and rename: survives every crash).
    membership: Option<StoredMembership>,
    /// The snapshot file (written with fsync and rename).
    snap: Option<SnapshotImage>,
}

impl Disk {
    fn write(&mut self, entries: &[Entry]) {
        let first = entries[0].index;
        let keep = (first - self.offset - 1) as usize;
        self.written.truncate(keep);
        self.written.extend_from_slice(entries);
    }

    /// Writes entries given as the frames the core received or encoded: they must be exactly
    /// the entries' records, chained to the entry before them (the core never hands storage a
    /// torn, foreign or unchained frame).
    fn write_frames(&mut self, entries: &[Entry], frames: &[u8]) {
        let first = entries[0].index;
        let keep = (first - self.offset - 1) as usize;
        let prev_term = self.written[..keep.min(self.written.len())]
            .last()
            .map_or(self.offset_term, |e| e.term);
        let mut expected = bytes::BytesMut::new();
        encode_frames(entries, prev_term, &mut expected);
        assert_eq!(
            &expected[..],
            frames,
            "entries {first}..: frames are their records"
        );
        self.write(entries);
    }

    fn compact(&mut self, through: u64) {
        let term_of = |log: &[Entry], i: u64| log.iter().find(|e| e.index == i).map(|e| e.term);
        let Some(term) = term_of(&self.synced, through) else {
            return;
        };
        self.synced.retain(|e| e.index > through);
        self.written.retain(|e| e.index > through);
        self.offset = through;
        self.offset_term = term;
    }

    /// Replaces the log by the end of an installed snapshot.
    fn install(&mut self, image: SnapshotImage) {
        self.written.clear();
        self.synced.clear();
        (self.offset, self.offset_term) = (image.meta.index, image.meta.term);
        self.snap = Some(image);
    }

    /// What storage's load does after a crash in the middle of an install: a snapshot beyond
    /// the log whose last entry the log lacks replaces the log.
    fn finish_install(&mut self) {
        let Some(image) = self.snap.clone() else {
            return;
        };
        let meta = &image.meta;
        let holds = meta.index == self.offset && meta.term == self.offset_term
            || self
                .written
                .iter()
                .any(|e| e.index == meta.index && e.term == meta.term);
        if meta.index > self.offset && !holds {
            self.install(image);
        }
    }
}

/// How a crash treats unsynced writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// Power loss: unsynced writes are gone.
    PowerLoss,
    /// Process crash: the page cache survives.
    Process,
}

/// The harness's knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Group size.
    pub nodes: u64,
    /// Commit mode.
    pub mode: CommitMode,
    /// Crash kind.
    pub crash: Crash,
    /// Steps of chaos.
    pub steps: usize,
    /// Snapshot chunk size in bytes (0: nodes never snapshot, only compact through the floor).
    pub chunk: usize,
    /// Nodes beyond `nodes` that may join (as observers, promoted once caught up); with any,
    /// members are also removed. Without snapshots (`chunk` 0) such sweeps do not compact (a
    /// joiner is then served the whole log).
    pub spare: u64,
}

/// Counters that show the faults and features were exercised.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Leaders elected.
    pub elections: u64,
    /// Leaders elected through a transfer (`TimeoutNow`).
    pub transfers: u64,
    /// Crashes.
    pub crashes: u64,
    /// Entries committed on some node.
    pub committed: u64,
    /// Reads confirmed.
    pub reads: u64,
    /// Compactions.
    pub compactions: u64,
    /// Observers added, observers promoted, members removed (control entries some node wrote).
    pub added: u64,
    /// See `added`.
    pub promoted: u64,
    /// See `added`.
    pub removed: u64,
    /// Leaders elected while a membership change was not yet durable.
    pub elections_mid_change: u64,
    /// Gaps filled by a peer other than the leader, and by the leader (see `core/gaps.rs`).
    pub filled_from_peers: u64,
    /// See `filled_from_peers`.
    pub filled_from_leader: u64,
    /// Snapshots saved by a node's state machine, chunks sent, and snapshots installed.
    pub snapshots_saved: u64,
    /// See `snapshots_saved`.
    pub snapshot_chunks: u64,
    /// See `snapshots_saved`.
    pub snapshots_installed: u64,
    /// Snapshots installed by nodes that joined (spares).
    pub joiner_installs: u64,
    /// Appends that continued a frame an earlier append began (ranges cut inside a frame).
    pub continued_ranges: u64,
}

/// The cluster.
pub struct Cluster {
    opts: Options,
    rand: SeededRand,
    nodes: Vec<Option<Raft>>,
    disks: Vec<Disk>,
    net: Vec<(NodeId, NodeId, Message)>,
    cut: BTreeSet<(NodeId, NodeId)>,
    checker: Checker,
    next_payload: u64,
    reads: BTreeMap<(NodeId, u64), u64>,
    next_read: u64,
    /// Nodes that exist (the initial ones and the spares that joined).
    joined: BTreeSet<NodeId>,
    /// Control entries seen, by (index, membership).
    changes: BTreeSet<(u64, Bytes)>,
    /// (term, leader) pairs seen, to count elections during a change.
    leaders: BTreeSet<(u64, NodeId)>,
    /// Per node: the snapshot image being received (in memory: lost on a crash).
    incoming: Vec<Vec<u8>>,
    pub stats: Stats,
}

impl Cluster {
    /// A fresh cluster for `seed`.
    pub fn new(seed: u64, opts: Options) -> Self {
        let n = (opts.nodes + opts.spare) as usize;
        let checker = Checker::new(opts.mode, opts.crash);
        let mut c = Self {
            opts,
            rand: SeededRand::new(seed),
            nodes: (0..n).map(|_| None).collect(),
            disks: vec![Disk::default(); n],
            net: Vec::new(),
            cut: BTreeSet::new(),
            checker,
            next_payload: 0,
            reads: BTreeMap::new(),
            next_read: 0,
            joined: BTreeSet::new(),
            changes: BTreeSet::new(),
            leaders: BTreeSet::new(),
            incoming: vec![Vec::new(); n],
            stats: Stats::default(),
        };
        for id in 1..=c.opts.nodes {
            c.joined.insert(id);
            c.start(id);
        }
        c
    }

    fn config(&self, id: NodeId) -> Config {
        let mut cfg = Config::new(id, (1..=self.opts.nodes).collect());
        cfg.commit_mode = self.opts.mode;
        cfg.max_inflight = 3;
        cfg.max_batch = 4;
        // Tiny chunks: a snapshot of a few entries already takes several, two in flight.
        cfg.snapshot_chunk = self.opts.chunk.max(1);
        cfg.snapshot_window = 2;
        cfg.compaction_retention = self.pick(3);
        // Mostly tiny ranges: the stream is cut inside frames all the time (frames are 40 to
        // 160 bytes here), so ranges that continue a frame meet every fault.
        if self.pick(4) > 0 {
            cfg.max_append_bytes = 24 + self.pick(277) as usize;
        }
        cfg
    }

    fn start(&mut self, id: NodeId) {
        // Recovery fsyncs whatever the page cache still holds.
        let d = &mut self.disks[(id - 1) as usize];
        d.synced = d.written.clone();
        d.finish_install();
        let d = &self.disks[(id - 1) as usize];
        let restored = Restored {
            hard_state: d.hs,
            snapshot_index: d.offset,
            snapshot_term: d.offset_term,
            entries: d.written.clone(),
            membership: d.membership.clone(),
            snapshot: d.snap.clone(),
        };
        let raft = Raft::new(self.config(id), Box::new(self.rand.split()), restored);
        self.checker.restarted(id, raft.applied());
        self.nodes[(id - 1) as usize] = Some(raft);
        self.incoming[(id - 1) as usize].clear();
    }

    fn chance(&self, percent: u64) -> bool {
        self.rand.below(100) < percent
    }

    fn pick(&self, n: u64) -> u64 {
        self.rand.below(n)
    }

    fn slots(&self) -> u64 {
        self.opts.nodes + self.opts.spare
    }

    fn alive(&self) -> Vec<NodeId> {
        (1..=self.slots())
            .filter(|&i| self.nodes[(i - 1) as usize].is_some())
            .collect()
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let Some(raft) = self.nodes[(id - 1) as usize].as_mut() else {
            return;
        };
        raft.step(input);
        let outs = raft.take_outputs();
        if raft.is_leader() && self.leaders.insert((raft.term(), id)) && raft.change_pending() {
            self.stats.elections_mid_change += 1;
        }
        let control = outs.iter().any(|o| match o {
            Output::PersistEntries(es, _) => es.iter().any(|e| is_control(&e.data)),
            _ => false,
        });
        self.handle(id, outs);
        self.checker.check(id, &self.nodes, &mut self.stats);
        if control {
            // Control entries are synced before the node says anything more.
            self.sync(id);
        }
    }

    fn handle(&mut self, id: NodeId, outs: Vec<Output>) {
        let mut answers = Vec::new();
        for out in outs {
            let disk = &mut self.disks[(id - 1) as usize];
            match out {
                Output::Send(to, msg) => {
                    match msg {
                        Message::TimeoutNow { .. } => self.stats.transfers += 1,
                        Message::Snapshot { .. } => self.stats.snapshot_chunks += 1,
                        Message::Append { base, start, .. } if start > base => {
                            self.stats.continued_ranges += 1;
                        }
                        _ => {}
                    }
                    self.net.push((id, to, msg))
                }
                Output::StageSnapshot { offset, data, .. } => {
                    let staged = &mut self.incoming[(id - 1) as usize];
                    if offset == 0 {
                        staged.clear();
                    }
                    assert_eq!(staged.len() as u64, offset, "node {id}: chunks in order");
                    staged.extend_from_slice(&data);
                }
                Output::InstallSnapshot { index, total, .. } => {
                    answers.push(self.install(id, index, total));
                }
                Output::PersistHardState(hs) => disk.hs = hs,
                Output::PersistEntries(entries, frames) => disk.write_frames(&entries, &frames),
                Output::Apply(entries) => self.checker.applied(id, &entries),
                Output::Compacted(through) => {
                    disk.compact(through);
                    self.stats.compactions += 1;
                }
                Output::ReadReady { id: rid, index } => {
                    let floor = self.reads.remove(&(id, rid)).expect("a read we issued");
                    assert!(
                        index >= floor,
                        "read index {index} below a commit {floor} known before the read"
                    );
                    self.stats.reads += 1;
                }
                Output::ReadFailed { id: rid, .. } => {
                    self.reads.remove(&(id, rid));
                }
                Output::MembershipChanged(m) => {
                    if m.index > 0 && self.changes.insert((m.index, m.current.encode())) {
                        let (cur, prev) = (&m.current, &m.previous);
                        if cur.observers.len() > prev.observers.len()
                            && cur.voters.len() == prev.voters.len()
                        {
                            self.stats.added += 1;
                        } else if cur.voters.len() > prev.voters.len() {
                            self.stats.promoted += 1;
                        } else if cur.voters.len() + cur.observers.len()
                            < prev.voters.len() + prev.observers.len()
                        {
                            self.stats.removed += 1;
                        }
                    }
                    disk.membership = Some(m);
                }
                Output::Watermarks { .. }
                | Output::LeaderChanged { .. }
                | Output::Proposed { .. }
                | Output::ProposalRejected { .. }
                | Output::MembershipRejected { .. } => {}
            }
        }
        for input in answers {
            self.input(id, input);
        }
    }

    fn sync(&mut self, id: NodeId) {
        let disk = &mut self.disks[(id - 1) as usize];
        disk.synced = disk.written.clone();
        let (index, term) = disk
            .synced
            .last()
            .map_or((disk.offset, disk.offset_term), |e| (e.index, e.term));
        self.input(id, Input::Persisted { index, term });
    }

    fn count_fills(&mut self, id: NodeId) {
        if let Some(r) = self.nodes[(id - 1) as usize].as_ref() {
            let (peers, leader) = r.gap_fills();
            self.stats.filled_from_peers += peers;
            self.stats.filled_from_leader += leader;
        }
    }

    fn crash(&mut self, id: NodeId) {
        self.count_fills(id);
        let disk = &mut self.disks[(id - 1) as usize];
        if self.opts.crash == Crash::PowerLoss {
            disk.written = disk.synced.clone();
        }
        self.nodes[(id - 1) as usize] = None;
        self.stats.crashes += 1;
    }

    fn deliver(&mut self, i: usize, keep: bool) {
        let (from, to, msg) = if keep {
            self.net[i].clone()
        } else {
            self.net.swap_remove(i)
        };
        if self.cut.contains(&(from, to)) {
            return;
        }
        if std::env::var("RAFT_TRACE").is_ok() {
            eprintln!("{from}->{to} {msg:?}");
        }
        self.input(to, Input::Message(from, msg));
    }

    /// A membership change through the leader: a spare joins (started with the membership the
    /// leader answers with, as a join would), or a member other than the leader is removed.
    fn change_membership(&mut self) {
        let leader = self.nodes.iter().flatten().find(|r| r.is_leader());
        let Some((lid, members)) = leader.map(|r| (r.id(), r.membership().clone())) else {
            return;
        };
        let spare = (self.opts.nodes + 1..=self.slots()).find(|id| !self.joined.contains(id));
        if let Some(id) = spare.filter(|_| self.chance(60)) {
            let change = Change::AddObserver {
                id,
                addr: String::new(),
            };
            self.input(lid, Input::ChangeMembership(change));
            if let Some(r) = self.nodes[(lid - 1) as usize].as_ref() {
                if r.membership().contains(id) {
                    // The join hands over the membership; the log (or a snapshot, when the
                    // leader compacted) follows by replication.
                    self.disks[(id - 1) as usize].membership = Some(r.stored_membership());
                    self.joined.insert(id);
                    self.start(id);
                }
            }
            return;
        }
        let removable: Vec<NodeId> = members
            .all()
            .map(|(id, _)| id)
            .filter(|&id| id != lid && (members.voters.len() > 3 || !members.is_voter(id)))
            .collect();
        if !removable.is_empty() {
            let id = removable[self.pick(removable.len() as u64) as usize];
            self.input(lid, Input::ChangeMembership(Change::Remove(id)));
        }
    }

    fn partition(&mut self) {
        self.cut.clear();
        let n = self.slots();
        let side: Vec<bool> = (0..n).map(|_| self.chance(50)).collect();
        for a in 1..=n {
            for b in 1..=n {
                if side[(a - 1) as usize] != side[(b - 1) as usize] {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    /// One random action.
    pub fn step(&mut self) {
        let n = self.slots();
        let roll = self.pick(100);
        let node = 1 + self.pick(n);
        match roll {
            98 if self.opts.spare > 0 => self.change_membership(),
            0..=49 if !self.net.is_empty() => {
                let i = self.pick(self.net.len() as u64) as usize;
                if self.chance(5) {
                    self.net.swap_remove(i);
                } else {
                    let dup = self.chance(5);
                    self.deliver(i, dup);
                }
            }
            0..=64 => {
                for id in self.alive() {
                    self.input(id, Input::Tick);
                }
            }
            65..=76 => self.sync(node),
            77..=86 => {
                self.next_payload += 1;
                // Unique (the number first); one in four longer (frames of up to 160 bytes,
                // split across several tiny ranges).
                let mut data = self.next_payload.to_le_bytes().to_vec();
                if self.chance(25) {
                    data.extend((0..self.pick(121)).map(|i| i as u8));
                }
                let data = Bytes::from(data);
                self.input(node, Input::Propose(vec![data]));
            }
            87..=88 => {
                let down = self.joined.len() as u64 - self.alive().len() as u64;
                let n = self.opts.nodes;
                if down < (n - 1) / 2 + u64::from(self.chance(10))
                    && self.nodes[(node - 1) as usize].is_some()
                {
                    self.crash(node);
                }
            }
            89..=91 => {
                if self.nodes[(node - 1) as usize].is_none() && self.joined.contains(&node) {
                    self.start(node);
                }
            }
            92 => self.partition(),
            93..=94 => self.cut.clear(),
            95 => {
                let to = 1 + self.pick(n);
                self.input(node, Input::TransferLeader(to));
            }
            96..=97 if self.opts.spare == 0 || self.opts.chunk > 0 => {
                self.snapshot_and_compact(node)
            }
            _ => {
                self.next_read += 1;
                let rid = self.next_read;
                self.reads.insert((node, rid), self.checker.max_commit());
                self.input(node, Input::ReadIndex(rid));
            }
        }
    }

    /// Chaos, then heal everything and require progress: a proposal commits everywhere.
    pub fn run(&mut self) {
        for i in 0..self.opts.steps {
            if std::env::var("RAFT_TRACE_SEED").is_ok() && i % 100 == 0 {
                eprintln!("step {i} net {}", self.net.len());
            }
            self.step();
        }
        self.cut.clear();
        for id in self.joined.clone() {
            if self.nodes[(id - 1) as usize].is_none() {
                self.start(id);
            }
        }
        let mut target = None;
        for _ in 0..4000 {
            for id in self.alive() {
                self.sync(id);
            }
            while !self.net.is_empty() {
                self.deliver(0, false);
            }
            let leader = self
                .nodes
                .iter()
                .flatten()
                .find(|r| r.is_leader())
                .map(|r| (r.id(), r.term()));
            if target.is_some_and(|(l, _)| Some(l) != leader) {
                target = None;
            }
            if let (None, Some(l)) = (target, leader) {
                self.input(l.0, Input::Propose(vec![Bytes::from_static(b"final")]));
                let node = self.nodes[(l.0 - 1) as usize].as_ref();
                target = node.filter(|r| r.is_leader()).map(|r| (l, r.last_index()));
            }
            if let Some(((l, _), t)) = target {
                // Every member of the leader's membership (removed nodes are out of the group).
                let members = self.nodes[(l - 1) as usize]
                    .as_ref()
                    .map(|r| r.membership().clone());
                if members.is_some_and(|m| {
                    self.nodes
                        .iter()
                        .flatten()
                        .filter(|r| m.contains(r.id()))
                        .all(|r| r.commit() >= t && r.applied() >= t)
                }) {
                    for id in self.alive() {
                        self.count_fills(id);
                    }
                    return;
                }
            }
            for id in self.alive() {
                self.input(id, Input::Tick);
            }
        }
        panic!("no progress after healing: {}", self.describe());
    }
}
