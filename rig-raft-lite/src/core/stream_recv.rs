//! Stream replication, the follower's side: assembling the leader's byte ranges into frames.
//!
//! A range is anchored at the last complete entry before it (`prev_index`, `prev_term`: Raft's
//! log-matching check) and may start and end inside a frame. The follower joins a range that
//! continues a frame to the bytes of that frame it holds (`partial`), or skips the rest of a
//! frame whose entry it already holds at the same term (same index and term: same frame). Only
//! complete frames whose checksum and chain hold reach the log, as the exact bytes received; a
//! frame that fails them is dropped and counted, never applied. The partial frame is volatile
//! and belongs to one leader's term: a term change or a campaign drops it, so a leader change
//! never tears an entry (the new leader's stream starts at its last complete frame).

use bytes::{Bytes, BytesMut};

use super::state::{Message, NodeId, Output};
use super::stream::Frames;
use super::Raft;

/// One byte range of a leader's stream (the body of [`Message::Append`]).
#[derive(Debug, Clone)]
pub(super) struct Range {
    /// The leader's term.
    pub term: u64,
    pub prev_index: u64,
    pub prev_term: u64,
    pub base: u64,
    pub start: u64,
    pub cont: Option<(u64, u64)>,
    pub bytes: Bytes,
}

/// The first bytes of the frame after `anchor`, received from the leader of `term`.
#[derive(Debug, Clone)]
struct Partial {
    term: u64,
    anchor: (u64, u64),
    head: Bytes,
}

/// The follower's stream state.
#[derive(Debug, Default)]
pub(super) struct StreamRecv {
    partial: Option<Partial>,
    /// The leader's stream position through which this node holds the stream (this term).
    pub(super) received: u64,
    /// Frames dropped because their checksum or chain failed.
    pub(super) bad_frames: u64,
}

impl StreamRecv {
    /// Forgets the partial frame and the leader's positions (a new term or a campaign).
    pub(super) fn reset(&mut self) {
        self.partial = None;
        self.received = 0;
    }
}

/// What a range did to the log.
pub(super) enum Took {
    /// The log matches the leader's through this index.
    Matched(u64),
    /// The range lies beyond the contiguous point (a range before it is missing).
    Ahead,
    /// The log does not hold the anchor: reject with this `(index, hint)`.
    Mismatch(u64, u64),
    /// Not usable (garbage positions): ignored.
    Dropped,
}

impl Raft {
    /// Frames dropped because their checksum or chain failed (a buggy or hostile sender).
    pub fn bad_frames(&self) -> u64 {
        self.stream.bad_frames
    }

    pub(super) fn on_append(&mut self, from: NodeId, range: Range, commit: u64, durable: u64) {
        self.follow(from);
        let term = self.hs.term;
        match self.take_range(&range) {
            // Once this node matched the leader, a gap means ranges were lost or reordered:
            // keep the range and fill the gap from peers (see `gaps.rs`) instead of rejecting,
            // which would make the leader resend everything from the gap. Before that (first
            // contact, a wiped disk) the leader's probing finds the match point.
            Took::Ahead => {
                self.stash(range);
                self.advance_follower_commit(commit.min(self.matched_leader), durable);
            }
            Took::Mismatch(index, hint) => self.send(
                from,
                Message::AppendResp {
                    term,
                    index,
                    persisted: 0,
                    reject: Some(hint),
                    received: 0,
                },
            ),
            Took::Dropped => self.ack_leader(),
            Took::Matched(last_new) => {
                self.matched_leader = self.matched_leader.max(last_new);
                self.drain_stash();
                let commit = commit.min(self.matched_leader);
                self.advance_follower_commit(commit, durable);
                self.ack_leader();
            }
        }
    }

    /// Whether the log holds `(index, term)` (entries below the compaction point are committed,
    /// hence held).
    fn holds(&self, (index, term): (u64, u64)) -> bool {
        index < self.log.offset() || self.log.term(index) == Some(term)
    }

    /// Takes one range of the leader's stream in: joins it to the frame it continues, writes
    /// the complete frames after the anchor, keeps the incomplete one's bytes.
    pub(super) fn take_range(&mut self, r: &Range) -> Took {
        let Some(skip) = r.start.checked_sub(r.base) else {
            self.stream.bad_frames += 1;
            return Took::Dropped;
        };
        let prev = (r.prev_index, r.prev_term);
        let end = r.start + r.bytes.len() as u64;
        // Align the range on a frame boundary: `buf` starts with the frame after `anchor`,
        // which starts at stream position `frame_base`.
        let (anchor, frame_base, buf) = if skip == 0 {
            (prev, r.base, r.bytes.clone())
        } else if let Some(p) = self
            .stream
            .partial
            .as_ref()
            .filter(|p| p.term == r.term && p.anchor == prev && self.holds(prev))
        {
            let have = p.head.len() as u64;
            if skip > have {
                return self.unmatched(r, skip); // a piece of this frame is missing
            }
            let overlap = (have - skip) as usize;
            if overlap >= r.bytes.len() {
                self.stream.received = self.stream.received.max(end);
                return Took::Matched(r.prev_index); // a duplicate
            }
            let mut joined = BytesMut::with_capacity(p.head.len() + r.bytes.len() - overlap);
            joined.extend_from_slice(&p.head);
            joined.extend_from_slice(&r.bytes[overlap..]);
            (prev, r.base, joined.freeze())
        } else if let Some((cont_term, frame_len)) = r
            .cont
            .filter(|&(t, _)| self.holds(prev) && self.holds((r.prev_index + 1, t)))
        {
            // This node holds the entry the range continues: skip the rest of its frame.
            let Some(rest) = frame_len.checked_sub(skip) else {
                self.stream.bad_frames += 1;
                return Took::Dropped;
            };
            if r.bytes.len() as u64 <= rest {
                return Took::Matched(r.prev_index + 1);
            }
            let next = (r.prev_index + 1, cont_term);
            (next, r.base + frame_len, r.bytes.slice(rest as usize..))
        } else {
            return self.unmatched(r, skip);
        };
        if !self.holds(anchor) {
            return self.unmatched(r, skip);
        }
        let parsed = Frames::parse(buf, anchor.0, anchor.1, r.term);
        if parsed.bad {
            self.stream.bad_frames += 1;
        }
        let whole_end = frame_base + parsed.frames.bytes.len() as u64;
        let (count, last_term) = (
            parsed.frames.len() as u64,
            parsed.frames.entries.last().map_or(anchor.1, |e| e.term),
        );
        let Some(last_new) = self.accept_entries(anchor.0, anchor.1, parsed.frames) else {
            return self.unmatched(r, skip);
        };
        if !parsed.rest.is_empty() {
            self.stream.received = self.stream.received.max(end);
            self.stream.partial = Some(Partial {
                term: r.term,
                anchor: (anchor.0 + count, last_term),
                head: parsed.rest,
            });
        } else if !parsed.bad {
            self.stream.received = self.stream.received.max(whole_end);
        }
        Took::Matched(last_new)
    }

    /// A range that does not join the log: beyond it (stash) or not matching it (reject).
    fn unmatched(&self, r: &Range, skip: u64) -> Took {
        let last = self.log.last_index();
        let prev = (r.prev_index, r.prev_term);
        // A range continuing a frame whose earlier bytes have not arrived (reordered or lost):
        // wait for them (or for the fill, or the leader's resend) rather than reject, which
        // would restart the leader's stream at every reordering.
        let head_missing = skip > 0 && self.holds(prev);
        if self.matched_leader > 0 && (r.prev_index > last || head_missing) {
            return Took::Ahead;
        }
        if skip > 0 && self.holds(prev) {
            // The frame's first bytes are gone (a restart): have the leader resend it whole.
            return Took::Mismatch(r.prev_index + 1, r.prev_index.min(last));
        }
        Took::Mismatch(r.prev_index, r.prev_index.saturating_sub(1).min(last))
    }

    /// Follower: writes `frames` after `prev_index` if the log holds `prev_index` at
    /// `prev_term` (replacing a conflicting tail); the index through which the log now matches
    /// the sender's, or `None` on a mismatch.
    pub(super) fn accept_entries(
        &mut self,
        mut prev_index: u64,
        mut prev_term: u64,
        mut frames: Frames,
    ) -> Option<u64> {
        // Entries at or below the compaction point are committed, hence already here.
        let offset = self.log.offset();
        if prev_index < offset {
            let above = frames
                .entries
                .iter()
                .position(|e| e.index > offset)
                .unwrap_or(frames.len());
            frames = frames.split_off(above);
            prev_index = offset;
            prev_term = self.log.term(offset).unwrap_or(0);
        }
        if self.log.term(prev_index) != Some(prev_term) {
            return None;
        }
        let last_new = prev_index + frames.len() as u64;
        if let Some(pos) = frames
            .entries
            .iter()
            .position(|e| self.log.term(e.index) != Some(e.term))
        {
            let fresh = frames.split_off(pos);
            let first = fresh.entries[0].index;
            self.persisted = self.persisted.min(first - 1);
            self.log.truncate_append_frames(fresh.clone());
            let controls = Self::controls(&fresh.entries);
            // The frames as received: storage writes them verbatim.
            self.out
                .push(Output::PersistEntries(fresh.entries, fresh.bytes));
            self.track_configs(first, &controls);
        }
        Some(last_new)
    }
}
