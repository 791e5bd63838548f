//! Out-of-order acceptance and gap filling from any peer (Tupl's replication).
//!
//! A follower that matched the current leader keeps byte ranges of the leader's stream that
//! arrive beyond its log's end (the *contiguous point*: its last complete entry and the bytes of
//! the next frame it holds) in a stash, keyed by stream position, instead of rejecting them; it never applies past
//! `min(commit, contiguous)`, because the commit index it adopts is capped at what matches the
//! leader, which stops at the log's end. Every heartbeat interval it asks a random voting peer
//! for the missing range, in chunks of at most `max_batch` entries ([`Message::Fetch`]). A peer
//! serves only committed entries (which every later leader holds, so they match the leader's
//! log); only the leader serves uncommitted ones. A peer that lacks the range says so
//! (`lacking`), and the follower asks the leader. Fetched entries travel as whole frames. Once
//! the gap is filled, the stash drains into the log (a stashed range that continues a frame the
//! fill brought skips the rest of that frame).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::state::{Message, NodeId, RoleKind};
use super::stream::Frames;
use super::stream_recv::{Range, Took};
use super::Raft;

/// Stashed appends: at most this many ranges (the highest are dropped first).
const MAX_STASHED: usize = 64;

/// The follower's ranges above its contiguous point, and gap-filling counters.
#[derive(Debug, Default)]
pub(super) struct Gaps {
    /// The leader's stream position where a range starts -> the range.
    stash: BTreeMap<u64, Range>,
    /// A peer lacked the last range asked for: ask the leader next.
    ask_leader: bool,
    /// Ranges filled by a peer other than the leader, and by the leader.
    pub(super) from_peers: u64,
    pub(super) from_leader: u64,
}

impl Gaps {
    /// Forgets the stashed ranges (the log they were waiting to join was replaced).
    pub(super) fn clear(&mut self) {
        self.stash.clear();
        self.ask_leader = false;
    }
}

impl Raft {
    /// Gap fills so far: `(by peers other than the leader, by the leader)`.
    pub fn gap_fills(&self) -> (u64, u64) {
        (self.gaps.from_peers, self.gaps.from_leader)
    }

    /// Byte ranges held above the contiguous point, waiting for a gap to be filled.
    pub fn stashed(&self) -> usize {
        self.gaps.stash.len()
    }

    pub(super) fn stash(&mut self, range: Range) {
        let term = self.hs.term;
        self.gaps.stash.retain(|_, r| r.term == term);
        let new_gap = self.gaps.stash.is_empty();
        self.gaps.stash.insert(range.start, range);
        while self.gaps.stash.len() > MAX_STASHED {
            self.gaps.stash.pop_last();
        }
        // Ask at once when a gap opens; while it stays open, every later append lands above it
        // too, and asking again for each would fetch the same range many times over (the fill,
        // or the next heartbeat interval, asks again).
        if new_gap {
            self.request_gap();
        }
    }

    /// Moves stashed ranges that now touch the log into it (dropping ones that do not match).
    pub(super) fn drain_stash(&mut self) {
        let term = self.hs.term;
        while let Some((start, range)) = self.gaps.stash.pop_first() {
            if range.term != term {
                continue;
            }
            match self.take_range(&range) {
                Took::Ahead => {
                    self.gaps.stash.insert(start, range);
                    break;
                }
                Took::Matched(last_new) => {
                    self.matched_leader = self.matched_leader.max(last_new);
                }
                Took::Mismatch(..) | Took::Dropped => {}
            }
        }
    }

    /// Follower tick: asks for the missing range while a gap is open.
    pub(super) fn tick_gaps(&mut self) {
        if self.heartbeat_elapsed_follower() {
            self.request_gap();
        }
    }

    fn heartbeat_elapsed_follower(&self) -> bool {
        let every = self.cfg.heartbeat_ticks.max(1);
        self.role == RoleKind::Follower && self.now.is_multiple_of(u64::from(every))
    }

    /// Sends a [`Message::Fetch`] for the first missing chunk to a random voting peer (or to the
    /// leader after a peer lacked it).
    fn request_gap(&mut self) {
        let term = self.hs.term;
        self.drain_stash();
        let Some(first) = self.gaps.stash.first_key_value().map(|(_, r)| r) else {
            return;
        };
        // The first range needs the entries through its anchor, and the whole frame it
        // continues when it starts inside one.
        let want = first.prev_index + u64::from(first.start > first.base);
        let last = self.log.last_index();
        let (from, to) = (
            last + 1,
            want.max(last + 1)
                .min(last + self.cfg.max_batch.max(1) as u64),
        );
        let me = self.cfg.id;
        let peers: Vec<NodeId> = self.voting_peers();
        let target = match (self.gaps.ask_leader, self.leader) {
            (true, Some(l)) if l != me => Some(l),
            _ if !peers.is_empty() => Some(peers[self.rand.below(peers.len() as u64) as usize]),
            _ => None,
        };
        self.gaps.ask_leader = false;
        if let Some(to_node) = target {
            self.send(to_node, Message::Fetch { term, from, to });
        }
    }

    /// Serves entries `from ..= to` (a chunk): committed ones from any node, uncommitted ones
    /// only from the leader.
    pub(super) fn on_fetch(&mut self, asker: NodeId, from: u64, to: u64) {
        let term = self.hs.term;
        if self.role == RoleKind::Leader && from <= self.log.offset() {
            // Compacted here: the asker needs the snapshot (see `snapshot_stream.rs`).
            if let Some(pr) = self
                .progress
                .get_mut(&asker)
                .filter(|p| !p.receiving_snapshot())
            {
                pr.restart_probe(from.max(1));
                self.send_append(asker);
                return;
            }
        }
        let limit = if self.role == RoleKind::Leader {
            self.log.last_index()
        } else {
            self.commit
        };
        let prev_index = from.saturating_sub(1);
        let prev_term = self.log.term(prev_index);
        let bytes = match prev_term {
            Some(_) if from >= 1 && from <= limit => self.log.frames(
                from,
                to.min(limit),
                self.cfg.max_batch.max(1),
                self.cfg.max_append_bytes.max(1),
            ),
            _ => Bytes::new(),
        };
        let msg = Message::FetchResp {
            term,
            prev_index,
            prev_term: prev_term.unwrap_or(0),
            lacking: bytes.is_empty(),
            bytes,
        };
        self.send(asker, msg);
    }

    /// Takes a fetched range in (or, when the peer lacked it, asks the leader at once).
    pub(super) fn on_fetch_resp(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        bytes: Bytes,
        lacking: bool,
    ) {
        if self.role != RoleKind::Follower {
            return;
        }
        if lacking || bytes.is_empty() {
            // Ask the leader now (once: its own answer ends this); with no leader known, the
            // next tick asks again.
            let me = self.cfg.id;
            if self.leader.is_some_and(|l| l != from && l != me) {
                self.gaps.ask_leader = true;
                self.request_gap();
            }
            return;
        }
        if prev_index != self.log.last_index() {
            return; // stale: the gap moved
        }
        // Served entries are committed or come from the leader: they are in the leader's log.
        // Whole frames only: anything else (a bad or torn frame) is dropped and counted.
        let parsed = Frames::parse(bytes, prev_index, prev_term, self.hs.term);
        if parsed.bad || !parsed.rest.is_empty() {
            self.stream.bad_frames += 1;
        }
        if parsed.frames.is_empty() {
            return;
        }
        let Some(last_new) = self.accept_entries(prev_index, prev_term, parsed.frames) else {
            return;
        };
        if self.leader == Some(from) {
            self.gaps.from_leader += 1;
        } else {
            self.gaps.from_peers += 1;
        }
        self.matched_leader = self.matched_leader.max(last_new);
        self.drain_stash();
        self.ack_leader();
        self.request_gap();
    }
}
