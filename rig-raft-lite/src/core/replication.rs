//! Log replication, the leader's side: per-follower progress, and pipelined byte ranges of the
//! leader's stream (see `stream.rs`) with bounded in-flight messages (flow control). The
//! follower's side is `stream_recv.rs`.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::state::{Entry, Message, NodeId, Output, RoleKind};
use super::stream::Frames;
use super::Raft;

/// What the leader knows about one follower.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The follower's log matches the leader's through this index (received).
    pub matched: u64,
    /// ... and is durable on the follower through this index.
    pub persisted: u64,
    /// The entry whose frame is sent next ...
    pub next: u64,
    /// ... and how many of its frame's bytes went out already (ranges are cut at any byte).
    skip: usize,
    /// The stream position where each append in flight ends (at most `max_inflight`).
    inflight: VecDeque<u64>,
    /// Probing: one append at a time until the follower's match point is found.
    probing: bool,
    /// A probe is out; wait for its answer (or a heartbeat answer) before the next one.
    probe_sent: bool,
    /// Heard from since the last check-quorum round.
    pub(super) recent_active: bool,
    /// `matched` at the previous heartbeat answer (no progress across two rounds: resend).
    matched_at_heartbeat: u64,
    /// A snapshot stream to this member, when its next entry was compacted away.
    pub(super) snapshot: Option<super::snapshot_stream::SnapSend>,
}

impl Progress {
    /// A new follower's progress: probe from `next`.
    pub(super) fn probing_from(next: u64) -> Self {
        Self {
            next,
            probing: true,
            ..Self::default()
        }
    }

    /// Probes again from `next` (one append at a time until the match point is found).
    pub(super) fn restart_probe(&mut self, next: u64) {
        self.probing = true;
        self.probe_sent = false;
        self.inflight.clear();
        self.next = next;
        self.skip = 0;
    }

    /// Whether a snapshot is being streamed to this member.
    pub fn receiving_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }
}

impl Raft {
    pub(super) fn become_leader(&mut self) {
        self.role = RoleKind::Leader;
        self.set_leader(Some(self.cfg.id));
        let next = self.log.last_index() + 1;
        self.progress = self
            .peers()
            .into_iter()
            .map(|p| (p, Progress::probing_from(next)))
            .collect();
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        self.transfer = None;
        self.reads.reset();
        // The no-op commits everything before this term once a majority has it.
        self.append_local(vec![Bytes::new()]);
        self.broadcast_append();
    }

    pub(super) fn propose(&mut self, data: Vec<Bytes>) {
        if self.role != RoleKind::Leader || self.transfer.is_some() || data.is_empty() {
            let leader = if self.transfer.is_some() {
                None
            } else {
                self.leader
            };
            self.out.push(Output::ProposalRejected { leader });
            return;
        }
        let (first, last) = self.append_local(data);
        let term = self.hs.term;
        self.out.push(Output::Proposed { first, last, term });
        self.broadcast_append();
    }

    fn append_local(&mut self, data: Vec<Bytes>) -> (u64, u64) {
        let first = self.log.last_index() + 1;
        let term = self.hs.term;
        let entries: Vec<Entry> = data
            .into_iter()
            .enumerate()
            .map(|(i, data)| Entry {
                term,
                index: first + i as u64,
                data,
            })
            .collect();
        let last = first + entries.len() as u64 - 1;
        // Encoded once, here: the same bytes go to the local log, the wire and followers' logs.
        let frames = Frames::encode(entries, self.log.last_term());
        self.log.truncate_append_frames(frames.clone());
        let controls = Self::controls(&frames.entries);
        self.out
            .push(Output::PersistEntries(frames.entries, frames.bytes));
        self.track_configs(first, &controls);
        self.maybe_commit();
        (first, last)
    }

    pub(super) fn broadcast_append(&mut self) {
        for p in self.peers() {
            while self.send_append(p) {}
        }
    }

    /// Leader: whether some follower's pipeline has room for an append now (a new proposal
    /// would go out at once rather than wait for acknowledgments).
    pub fn can_send_append(&self) -> bool {
        let max_inflight = self.cfg.max_inflight.max(1);
        self.role == RoleKind::Leader
            && (self.progress.is_empty()
                || self
                    .progress
                    .values()
                    .any(|pr| !pr.probing && pr.inflight.len() < max_inflight))
    }

    /// Sends the next range of the stream to `to` if flow control allows; whether a message
    /// went out. A range holds at most `max_append_bytes` bytes touching at most `max_batch`
    /// frames, and may end inside a frame (the next range continues it).
    pub(super) fn send_append(&mut self, to: NodeId) -> bool {
        let (term, commit, durable) = (self.hs.term, self.commit, self.durable);
        let max_inflight = self.cfg.max_inflight.max(1);
        let max_batch = self.cfg.max_batch.max(1);
        let max_bytes = self.cfg.max_append_bytes.max(1);
        let Some(pr) = self.progress.get(&to) else {
            return false;
        };
        if pr.snapshot.is_some() {
            return self.send_snapshot_chunk(to);
        }
        if (pr.probing && pr.probe_sent) || (!pr.probing && pr.inflight.len() >= max_inflight) {
            return false;
        }
        let prev_index = pr.next - 1;
        // Below the compaction point: the member needs the snapshot.
        let (Some(prev_term), Some(base)) =
            (self.log.term(prev_index), self.log.end_pos(prev_index))
        else {
            return self.start_snapshot(to);
        };
        let cont = match (self.log.term(pr.next), self.log.frame_len(pr.next)) {
            (Some(t), Some(len)) if pr.skip > 0 && pr.skip < len => Some((t, len as u64)),
            _ => None,
        };
        let skip = if cont.is_some() { pr.skip } else { 0 };
        let (bytes, next, next_skip) = self.log.read_stream(pr.next, skip, max_bytes, max_batch);
        if !pr.probing && bytes.is_empty() {
            return false;
        }
        // The last entry whose frame the follower holds whole once this range arrives.
        let sent_last = next - 1;
        let commit = commit.min(sent_last.max(pr.matched));
        let durable = durable.min(commit);
        let start = base + skip as u64;
        let pr = self.progress.get_mut(&to).expect("checked above");
        if pr.probing {
            pr.probe_sent = true;
        } else {
            pr.inflight.push_back(start + bytes.len() as u64);
            (pr.next, pr.skip) = (next, next_skip);
        }
        let msg = Message::Append {
            term,
            prev_index,
            prev_term,
            base,
            start,
            cont,
            bytes,
            commit,
            durable,
        };
        self.send(to, msg);
        !self.progress[&to].probing
    }

    /// Follower: acknowledges what matches the leader's log and what of it is durable.
    pub(super) fn ack_leader(&mut self) {
        let Some(leader) = self.leader.filter(|&l| l != self.cfg.id) else {
            return;
        };
        // Nothing matched in this term yet, unless a range from the empty prefix arrived (a
        // probe from index 0 that held only the start of entry 1's frame): answer that, or the
        // leader would probe the same range forever.
        if self.matched_leader == 0 && self.stream.received == 0 {
            return;
        }
        let term = self.hs.term;
        let index = self.matched_leader;
        let persisted = self.persisted.min(index);
        let received = self.stream.received;
        self.send(
            leader,
            Message::AppendResp {
                term,
                index,
                persisted,
                reject: None,
                received,
            },
        );
    }

    /// Same-term message from the leader: follow it and restart the election timer.
    pub(super) fn follow(&mut self, leader: NodeId) {
        if self.role != RoleKind::Follower {
            self.become_follower(self.hs.term, Some(leader));
        } else {
            self.set_leader(Some(leader));
            self.election_elapsed = 0;
        }
    }

    pub(super) fn on_append_resp(
        &mut self,
        from: NodeId,
        index: u64,
        persisted: u64,
        reject: Option<u64>,
        received: u64,
    ) {
        if self.role != RoleKind::Leader {
            return;
        }
        // What the follower holds, in stream positions: its acknowledged entries' end, or the
        // bytes it received beyond them (ranges that ended inside a frame).
        let known = self.progress.get(&from).map_or(0, |pr| pr.matched);
        let acked = self
            .log
            .end_pos(index.max(known))
            .unwrap_or(0)
            .max(received);
        let offset = self.log.offset();
        let snapshot_floor = if self.usable_snapshot().is_some() {
            1
        } else {
            offset + 1
        };
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if let Some(ss_index) = pr.snapshot.as_ref().map(|ss| ss.index()) {
            if reject.is_some() || index < ss_index {
                return; // a stale answer: the stream decides
            }
            // The member's log reached the snapshot by other means: back to appends.
            pr.snapshot = None;
            pr.restart_probe(pr.next);
        }
        match reject {
            None => {
                pr.matched = pr.matched.max(index);
                pr.persisted = pr.persisted.max(persisted.min(pr.matched));
                while pr.inflight.front().is_some_and(|&end| end <= acked) {
                    pr.inflight.pop_front();
                }
                if pr.probing {
                    pr.probing = false;
                    pr.probe_sent = false;
                    pr.inflight.clear();
                    (pr.next, pr.skip) = (pr.matched + 1, 0);
                }
                if pr.next <= pr.matched {
                    (pr.next, pr.skip) = (pr.matched + 1, 0);
                }
                self.maybe_commit();
                while self.send_append(from) {}
                if self.transfer.is_some_and(|(to, _)| to == from) {
                    self.maybe_send_timeout_now();
                }
            }
            Some(hint) => {
                if hint < pr.matched {
                    // The follower lost unsynced entries (a restart); lowering is conservative.
                    pr.matched = hint;
                    pr.persisted = pr.persisted.min(hint);
                } else if (pr.probing && index + 1 != pr.next)
                    || (!pr.probing && index <= pr.matched)
                {
                    return; // stale
                }
                // Below the compaction point the member gets the snapshot; without one, every
                // member holds the compacted prefix durably (see `snapshot.rs`).
                pr.next = (pr.matched + 1)
                    .max(index.min(hint + 1))
                    .max(snapshot_floor);
                pr.skip = 0;
                pr.probing = true;
                pr.probe_sent = false;
                pr.inflight.clear();
                self.send_append(from);
            }
        }
    }

    pub(super) fn on_heartbeat(
        &mut self,
        from: NodeId,
        commit: u64,
        durable: u64,
        floor: u64,
        seq: u64,
    ) {
        self.follow(from);
        self.floor = self.floor.max(floor);
        self.advance_follower_commit(commit.min(self.matched_leader), durable);
        let term = self.hs.term;
        if self.matched_leader < commit {
            // The leader caps `commit` at what this node acknowledged in this term, so this node
            // restarted since (losing its match point, and in Volatile mode perhaps unsynced
            // entries). An idle leader would send nothing more and leave it behind for good:
            // have it probe from this node's log instead (a reject below its match point
            // lowers it, see `on_append_resp`).
            let hint = self.log.last_index().min(commit);
            let msg = Message::AppendResp {
                term,
                index: hint + 1,
                persisted: 0,
                reject: Some(hint),
                received: 0,
            };
            self.send(from, msg);
        }
        self.send(from, Message::HeartbeatResp { term, seq });
    }

    pub(super) fn on_heartbeat_resp(&mut self, from: NodeId, seq: u64) {
        if self.role != RoleKind::Leader {
            return;
        }
        let (last, offset) = (self.log.last_index(), self.log.offset());
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        let stalled = pr.matched < last && pr.matched == pr.matched_at_heartbeat;
        pr.matched_at_heartbeat = pr.matched;
        if pr.snapshot.is_some() {
            // The stream has its own timeout (see `snapshot_stream.rs`).
        } else if pr.probing || stalled {
            // A lost probe or lost appends: resend from the match point (a member below the
            // compaction point rejects the probe, or asks to fill the gap, and gets the snapshot).
            pr.probing = true;
            pr.probe_sent = false;
            pr.inflight.clear();
            pr.next = (pr.matched + 1).max(offset + 1);
            pr.skip = 0;
            self.send_append(from);
        }
        self.on_read_ack(from, seq);
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        let seq = self.reads.new_round(self.now);
        let (term, floor) = (self.hs.term, self.compaction_floor());
        for p in self.peers() {
            let matched = self.progress.get(&p).map_or(0, |pr| pr.matched);
            let commit = self.commit.min(matched);
            let durable = self.durable.min(commit);
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
    }

    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_ticks {
            self.election_elapsed = 0;
            self.check_quorum();
            if self.role != RoleKind::Leader {
                return;
            }
        }
        if let Some((to, elapsed)) = self.transfer {
            self.transfer = (elapsed + 1 < self.cfg.election_ticks).then_some((to, elapsed + 1));
        }
        self.maybe_promote();
        self.tick_snapshot_streams();
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }
}

impl Raft {
    /// On a leader: what it knows about member `id`'s log.
    pub fn progress_of(&self, id: NodeId) -> Option<&Progress> {
        self.progress.get(&id)
    }

    /// On a leader: how many log entries (of any kind) each other member's log is behind the
    /// commit index, as far as the leader knows (what it has acknowledged receiving). Empty on
    /// a node that does not lead.
    pub fn replication_lag(&self) -> BTreeMap<NodeId, u64> {
        if self.role != RoleKind::Leader {
            return BTreeMap::new();
        }
        let me = self.cfg.id;
        self.progress
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, pr)| (*id, self.commit.saturating_sub(pr.matched)))
            .collect()
    }
}
