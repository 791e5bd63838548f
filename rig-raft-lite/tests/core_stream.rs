//! Stream-oriented replication, core level: the leader ships byte ranges of its encoded log cut
//! at any byte (`max_append_bytes` 64 here, so a 1 KiB entry travels in many pieces); followers
//! apply an entry only once its frame is complete, write the frames as received (their log files
//! equal the leader's byte for byte), never keep a frame torn by a leader change, and converge
//! when pieces arrive out of order or twice.
//!
//! The harness runs three cores over `FsStorage` on a simulated disk; every persisted range of
//! frames is checked against the entries it carries (whole, chained records only).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rig_core::seams::{Fs, Rand, SeededRand};
use rig_raft_lite::core::stream::{encode_frame, encode_frames};
use rig_raft_lite::core::{Config, Entry, Input, Message, NodeId, Output, Raft, Restored};
use rig_raft_lite::storage::{FsStorage, Storage};
use rig_testkit::simfs::SimFs;

const RANGE: usize = 64;

/// Three cores, their disks, and the messages in flight.
struct Group {
    fs: SimFs,
    nodes: Vec<Raft>,
    disks: Vec<FsStorage>,
    net: Vec<(NodeId, NodeId, Message)>,
    /// Per node: every entry it applied, in order.
    applied: Vec<Vec<Entry>>,
    /// Per node: every entry it persisted.
    persisted: Vec<Vec<Entry>>,
    /// Nodes whose messages (both ways) are dropped.
    cut: Vec<NodeId>,
}

fn dir(id: NodeId) -> PathBuf {
    PathBuf::from(format!("/n{id}"))
}

impl Group {
    fn new(seed: u64) -> Self {
        let (fs, _ctl) = SimFs::new(seed);
        let rand = SeededRand::new(seed);
        let mut g = Self {
            fs: fs.clone(),
            nodes: Vec::new(),
            disks: Vec::new(),
            net: Vec::new(),
            applied: vec![Vec::new(); 3],
            persisted: vec![Vec::new(); 3],
            cut: Vec::new(),
        };
        for id in 1..=3 {
            let mut cfg = Config::new(id, vec![1, 2, 3]);
            cfg.max_append_bytes = RANGE;
            let disk = FsStorage::open(Arc::new(fs.clone()), &dir(id)).expect("open");
            g.nodes
                .push(Raft::new(cfg, Box::new(rand.split()), Restored::default()));
            g.disks.push(disk);
        }
        g
    }

    fn node(&self, id: NodeId) -> &Raft {
        &self.nodes[(id - 1) as usize]
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let i = (id - 1) as usize;
        self.nodes[i].step(input);
        let outs = self.nodes[i].take_outputs();
        let mut answers = Vec::new();
        for out in outs {
            match out {
                Output::Send(to, msg) => self.net.push((id, to, msg)),
                Output::PersistHardState(hs) => self.disks[i].save_hard_state(hs).expect("hs"),
                Output::PersistEntries(entries, frames) => {
                    self.check_frames(id, &entries, &frames);
                    self.disks[i]
                        .write_frames(&entries, &frames)
                        .expect("write");
                    if let Some((index, term)) = self.disks[i].sync().expect("sync") {
                        answers.push(Input::Persisted { index, term });
                    }
                    self.persisted[i].extend(entries);
                }
                Output::Apply(entries) => self.applied[i].extend(entries),
                _ => {}
            }
        }
        for a in answers {
            self.input(id, a);
        }
    }

    /// The bytes handed to storage are exactly the entries' records, each chained to the entry
    /// before it in the node's log: whole frames, never a torn one.
    fn check_frames(&self, id: NodeId, entries: &[Entry], frames: &[u8]) {
        let log = self.node(id).log();
        let prev_term = log.term(entries[0].index - 1).expect("anchored");
        let mut expected = BytesMut::new();
        encode_frames(entries, prev_term, &mut expected);
        assert_eq!(
            &expected[..],
            frames,
            "node {id}: persisted bytes are whole records"
        );
    }

    fn tick(&mut self, id: NodeId) {
        self.input(id, Input::Tick);
    }

    /// Delivers message `i` (keeping a copy when `dup`).
    fn deliver(&mut self, i: usize, dup: bool) {
        let (from, to, msg) = if dup {
            self.net[i].clone()
        } else {
            self.net.remove(i)
        };
        if self.cut.contains(&from) || self.cut.contains(&to) {
            return;
        }
        self.input(to, Input::Message(from, msg));
    }

    fn deliver_all(&mut self) {
        while !self.net.is_empty() {
            self.deliver(0, false);
        }
    }

    /// Ticks every node not cut off, delivering everything, until `id` leads.
    fn elect(&mut self, id: NodeId) {
        for _ in 0..200 {
            if self.node(id).is_leader() {
                return;
            }
            self.tick(id);
            self.deliver_all();
        }
        panic!("node {id} was not elected");
    }

    /// Ticks and delivers until every node's log ends at the leader's last entry, applied.
    fn settle(&mut self) {
        for _ in 0..400 {
            self.deliver_all();
            let last = self.nodes.iter().map(Raft::last_index).max().unwrap_or(0);
            if self.nodes.iter().all(|n| n.applied() == last) {
                return;
            }
            for id in 1..=3 {
                if !self.cut.contains(&id) {
                    self.tick(id);
                }
            }
        }
        panic!("the group did not settle");
    }

    /// The node's log file after its header.
    fn log_bytes(&self, id: NodeId) -> Vec<u8> {
        let f = self.fs.open(&dir(id).join("raft.log"), false).expect("log");
        let mut buf = vec![0; f.len().expect("len") as usize];
        f.read_exact_at(&mut buf, 0).expect("read");
        buf.split_off(25)
    }
}

fn payload(len: usize, seed: u64) -> Bytes {
    let rand = SeededRand::new(seed);
    (0..len).map(|_| rand.below(256) as u8).collect()
}

/// Appends in flight: `(to, start - base, bytes)`.
fn appends(net: &[(NodeId, NodeId, Message)]) -> Vec<(NodeId, u64, usize)> {
    net.iter()
        .filter_map(|(_, to, m)| match m {
            Message::Append {
                base, start, bytes, ..
            } => Some((*to, start - base, bytes.len())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_large_entry_streams_in_pieces_and_applies_whole() {
    let mut g = Group::new(1);
    g.elect(1);
    g.settle();
    let big = payload(1024, 7);
    g.input(1, Input::Propose(vec![big.clone()]));
    let index = g.node(1).last_index();
    let end = g.node(1).log().end_pos(index).expect("held");
    let (mut pieces, mut continued) = (0, 0);
    let mut received = [0u64; 3];
    while !g.net.is_empty() {
        let (_, to, msg) = g.net[0].clone();
        if let Message::Append { start, bytes, .. } = &msg {
            assert!(bytes.len() <= RANGE, "a range over max_append_bytes");
            pieces += 1;
            continued +=
                usize::from(matches!(msg, Message::Append { base, start, .. } if start > base));
            let r = &mut received[(to - 1) as usize];
            *r = (*r).max(start + bytes.len() as u64);
        }
        g.deliver(0, false);
        for f in [2, 3] {
            // The entry is in a follower's log only once its frame's last byte arrived.
            if g.node(f).last_index() >= index {
                assert!(
                    received[(f - 1) as usize] >= end,
                    "node {f} took a partial frame"
                );
            }
        }
        if g.net.is_empty() {
            g.tick(1);
        }
        if g.nodes.iter().all(|n| n.applied() >= index) {
            break;
        }
    }
    g.settle();
    assert!(
        pieces >= 2 * 1024 / RANGE,
        "{pieces} appends carried the entry"
    );
    assert!(
        continued >= 1024 / RANGE,
        "only {continued} appends continued a frame"
    );
    for id in 1..=3 {
        let got: Vec<&Entry> = g.applied[(id - 1) as usize]
            .iter()
            .filter(|e| e.index == index)
            .collect();
        assert_eq!(got.len(), 1, "node {id} applies the entry once");
        assert_eq!(
            got[0].data, big,
            "node {id} applies exactly the proposed bytes"
        );
    }
}

#[test]
fn a_torn_frame_never_reaches_a_log_after_a_leader_change() {
    let mut g = Group::new(2);
    g.elect(1);
    g.input(1, Input::Propose(vec![Bytes::from_static(b"before")]));
    g.settle();
    let big = payload(1024, 9);
    g.input(1, Input::Propose(vec![big.clone()]));
    let torn = g.node(1).last_index();
    // The followers get the first pieces of the frame (as many as the leader's pipeline sends
    // before answers come back: less than the frame), then the leader is cut off.
    let pieces = appends(&g.net);
    assert!(!pieces.is_empty() && pieces.iter().map(|p| p.2).sum::<usize>() < 2 * 1024);
    let to_followers: Vec<_> = g.net.drain(..).filter(|(_, to, _)| *to != 1).collect();
    for (from, to, msg) in to_followers {
        g.input(to, Input::Message(from, msg));
    }
    assert!(
        g.nodes[1..].iter().all(|n| n.last_index() < torn),
        "the followers hold only part of the frame"
    );
    g.cut.push(1);
    g.net.clear();
    // A new leader between 2 and 3 writes its own entries after its last complete frame.
    let new = g.elect_any(&[2, 3]);
    g.input(new, Input::Propose(vec![Bytes::from_static(b"after")]));
    g.settle_without(1);
    for f in [2, 3] {
        let log = g.node(f).log();
        assert!(
            log.term(torn) > g.node(1).log().term(torn),
            "node {f}: a new term's entry at {torn}"
        );
        assert!(
            g.persisted[(f - 1) as usize].iter().all(|e| e.data != big),
            "node {f} persisted the torn entry"
        );
    }
    // The old leader rejoins: its uncommitted entry is replaced, every log ends equal.
    g.cut.clear();
    g.settle();
    let reference = g.log_bytes(new);
    for id in 1..=3 {
        assert_eq!(g.log_bytes(id), reference, "node {id}'s log file");
        let whole = g.applied[(id - 1) as usize]
            .iter()
            .filter(|e| e.data == big)
            .count();
        assert_eq!(whole, 0, "node {id}: the torn proposal was not committed");
        assert!(g.applied[(id - 1) as usize]
            .iter()
            .any(|e| e.data == "after"));
    }
}

#[test]
fn pieces_out_of_order_and_twice_never_apply_past_the_gap_and_converge() {
    let mut stashed = 0;
    for seed in 0..20 {
        let mut g = Group::new(100 + seed);
        let rand = SeededRand::new(seed);
        g.elect(1);
        g.settle();
        let data: Vec<Bytes> = (0..6)
            .map(|i| payload(50 + rand.below(350) as usize, seed * 10 + i))
            .collect();
        for d in &data {
            g.input(1, Input::Propose(vec![d.clone()]));
        }
        for _ in 0..3000 {
            if g.net.is_empty() {
                g.tick(1);
                continue;
            }
            let i = rand.below(g.net.len() as u64) as usize;
            g.deliver(i, rand.below(4) == 0);
            stashed += g.nodes.iter().map(Raft::stashed).sum::<usize>();
            for f in [2, 3] {
                let n = g.node(f);
                // Never past the contiguous point, and only the leader's entries.
                assert!(n.commit() <= n.last_index() && n.applied() <= n.commit());
                for e in &g.applied[(f - 1) as usize] {
                    assert_eq!(
                        Some(e),
                        g.node(1)
                            .log()
                            .entries()
                            .iter()
                            .find(|l| l.index == e.index)
                    );
                }
            }
            if g.nodes
                .iter()
                .all(|n| n.applied() == g.node(1).last_index())
            {
                break;
            }
        }
        g.net.clear();
        g.settle();
        let reference = g.log_bytes(1);
        for id in 2..=3 {
            assert_eq!(
                g.log_bytes(id),
                reference,
                "seed {seed}: node {id}'s log file"
            );
            let applied: Vec<&Bytes> = g.applied[(id - 1) as usize]
                .iter()
                .map(|e| &e.data)
                .collect();
            for d in &data {
                assert_eq!(
                    applied.iter().filter(|a| **a == d).count(),
                    1,
                    "seed {seed}"
                );
            }
        }
    }
    assert!(stashed > 0, "pieces arrived beyond the contiguous point");
}

#[test]
fn followers_write_the_leaders_bytes_verbatim() {
    let mut g = Group::new(3);
    g.elect(1);
    for i in 0..20u64 {
        let d = payload(1 + (i as usize * 37) % 300, i);
        g.input(1, Input::Propose(vec![d]));
        if i % 3 == 0 {
            g.deliver_all();
        }
    }
    g.settle();
    let leader = g.log_bytes(1);
    assert!(leader.len() > 20 * 32, "the leader's log holds the entries");
    for id in [2, 3] {
        assert_eq!(
            g.log_bytes(id),
            leader,
            "node {id}'s log file equals the leader's"
        );
    }
    // And the file is the stream: the leader's positions are offsets in its log file.
    let last = g.node(1).last_index();
    assert_eq!(g.node(1).log().end_pos(last), Some(leader.len() as u64));
}

impl Group {
    /// Ticks `ids` (delivering everything) until one of them leads.
    fn elect_any(&mut self, ids: &[NodeId]) -> NodeId {
        for _ in 0..400 {
            if let Some(&id) = ids.iter().find(|&&id| self.node(id).is_leader()) {
                return id;
            }
            for &id in ids {
                self.tick(id);
            }
            self.deliver_all();
        }
        panic!("none of {ids:?} was elected");
    }

    /// `settle` for the nodes other than `down`.
    fn settle_without(&mut self, down: NodeId) {
        for _ in 0..400 {
            self.deliver_all();
            let up: Vec<&Raft> = self.nodes.iter().filter(|n| n.id() != down).collect();
            let last = up.iter().map(|n| n.last_index()).max().unwrap_or(0);
            if up.iter().all(|n| n.applied() == last) {
                return;
            }
            for id in (1..=3).filter(|&id| id != down) {
                self.tick(id);
            }
        }
        panic!("the group did not settle without node {down}");
    }
}

#[test]
fn a_corrupt_frame_is_dropped_and_counted_never_applied() {
    let mut follower = Raft::new(
        Config::new(2, vec![1, 2, 3]),
        Box::new(SeededRand::new(4)),
        Restored::default(),
    );
    let entry = Entry {
        term: 1,
        index: 1,
        data: Bytes::from_static(b"payload"),
    };
    let mut frame = BytesMut::new();
    encode_frame(&entry, 0, &mut frame);
    let append = |bytes: Bytes| Message::Append {
        term: 1,
        prev_index: 0,
        prev_term: 0,
        base: 0,
        start: 0,
        cont: None,
        bytes,
        commit: 1,
        durable: 1,
    };
    let mut bad = frame.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    follower.step(Input::Message(1, append(bad.freeze())));
    let outs = follower.take_outputs();
    assert_eq!(follower.bad_frames(), 1);
    assert_eq!(follower.last_index(), 0, "the bad frame is not in the log");
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::PersistEntries(..) | Output::Apply(_))),
        "{outs:?}"
    );
    follower.step(Input::Message(1, append(frame.freeze())));
    assert_eq!((follower.last_index(), follower.bad_frames()), (1, 1));
    assert!(follower
        .take_outputs()
        .iter()
        .any(|o| matches!(o, Output::PersistEntries(es, _) if es == &vec![entry.clone()])));
}
