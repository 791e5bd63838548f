//! Snapshot streaming: the leader sends its snapshot image to a member whose next entry was
//! compacted away, as [`Message::Snapshot`] chunks of at most `snapshot_chunk` bytes, with at
//! most `snapshot_window` chunks unconfirmed (flow control).
//!
//! The member stages each chunk that continues what it holds ([`Output::StageSnapshot`]) and
//! answers with the next offset it wants; a chunk that does not fit (lost, reordered or
//! duplicated) gets the same answer, so the leader resumes from there. A stream is identified by
//! the leader's term, the snapshot's index and the image's length: a new leader or a newer
//! snapshot starts a new stream from offset 0, which drops what was staged. Once the image is
//! complete the member asks its driver to verify and install it ([`Output::InstallSnapshot`])
//! and answers `done` only after that is durable. A stream without progress for
//! `snapshot_timeout_ticks` is resent from the last confirmed offset, and after three such
//! retries given up and started over (the member then resumes from what it staged).

use bytes::Bytes;

use super::log::MemLog;
use super::snapshot::SnapshotImage;
use super::state::{Message, NodeId, Output, RoleKind};
use super::Raft;

/// Resends of a stalled stream before it is given up and started over.
const MAX_RETRIES: u32 = 3;

/// A snapshot stream to one member (leader side).
#[derive(Debug, Clone)]
pub(super) struct SnapSend {
    index: u64,
    total: u64,
    /// The next offset to send.
    next: u64,
    /// The member confirmed everything below this offset.
    acked: u64,
    /// Ticks without progress, and resends since the last progress.
    idle: u32,
    retries: u32,
}

impl SnapSend {
    /// The snapshot's index.
    pub(super) fn index(&self) -> u64 {
        self.index
    }

    fn new(image: &SnapshotImage) -> Self {
        Self {
            index: image.meta.index,
            total: image.bytes.len() as u64,
            next: 0,
            acked: 0,
            idle: 0,
            retries: 0,
        }
    }
}

/// A snapshot being received (member side).
#[derive(Debug, Clone)]
pub(super) struct SnapRecv {
    /// The stream: (leader's term, snapshot index, image length).
    key: (u64, u64, u64),
    leader: NodeId,
    /// The next offset expected.
    next: u64,
    /// Complete: the driver is installing it.
    installing: bool,
}

impl Raft {
    /// Leader: starts streaming the snapshot to `to` (its next entry is below the log).
    pub(super) fn start_snapshot(&mut self, to: NodeId) -> bool {
        let Some(image) = self.usable_snapshot() else {
            return false;
        };
        let stream = SnapSend::new(image);
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        pr.snapshot = Some(stream);
        // Fill the window now (callers send one append per answer).
        while self.send_snapshot_chunk(to) {}
        false
    }

    /// Leader: sends the next chunk to `to` if the window allows; whether one went out.
    pub(super) fn send_snapshot_chunk(&mut self, to: NodeId) -> bool {
        // The wire gives a chunk a 32-bit length.
        let chunk = self.cfg.snapshot_chunk.clamp(1, u32::MAX as usize) as u64;
        let window = chunk.saturating_mul(self.cfg.snapshot_window.max(1) as u64);
        let term = self.hs.term;
        let image = self.usable_snapshot().cloned();
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        let Some(ss) = pr.snapshot.as_mut() else {
            return false;
        };
        let Some(image) = image else {
            // The snapshot is gone (cannot happen while the log stays compacted): probe again.
            pr.snapshot = None;
            pr.restart_probe(pr.matched + 1);
            return false;
        };
        if ss.index != image.meta.index {
            // A newer snapshot replaced the one being sent: start over with it.
            *ss = SnapSend::new(&image);
        }
        if ss.next >= ss.total || ss.next >= ss.acked.saturating_add(window) {
            return false;
        }
        let end = ss.next.saturating_add(chunk).min(ss.total);
        let data = image.bytes.slice(ss.next as usize..end as usize);
        let msg = Message::Snapshot {
            term,
            index: image.meta.index,
            snap_term: image.meta.term,
            offset: ss.next,
            total: ss.total,
            data,
        };
        ss.next = end;
        self.send(to, msg);
        true
    }

    pub(super) fn on_snapshot_resp(&mut self, from: NodeId, index: u64, next: u64, done: bool) {
        if self.role != RoleKind::Leader {
            return;
        }
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        let Some(ss) = pr.snapshot.as_mut().filter(|ss| ss.index == index) else {
            return;
        };
        if done {
            pr.snapshot = None;
            pr.matched = pr.matched.max(index);
            pr.restart_probe(pr.matched + 1);
            self.maybe_commit();
            self.send_append(from);
            return;
        }
        let next = next.min(ss.total);
        if next > ss.acked {
            ss.acked = next;
            ss.next = ss.next.max(next);
            (ss.idle, ss.retries) = (0, 0);
        } else if next < ss.acked {
            // The member lost what it had staged (a restart): resume where it asks.
            (ss.acked, ss.next, ss.idle) = (next, next, 0);
        }
        // `next == acked`: a duplicate, or a chunk beyond a lost one (the timeout resends).
        while self.send_snapshot_chunk(from) {}
    }

    /// Leader tick: resends stalled streams from the confirmed offset, gives up after retries.
    pub(super) fn tick_snapshot_streams(&mut self) {
        let timeout = self.cfg.snapshot_timeout_ticks.max(1);
        let mut resend = Vec::new();
        for (&id, pr) in &mut self.progress {
            let Some(ss) = pr.snapshot.as_mut() else {
                continue;
            };
            ss.idle += 1;
            if ss.idle < timeout {
                continue;
            }
            ss.idle = 0;
            ss.retries += 1;
            if ss.retries > MAX_RETRIES {
                // Given up: a fresh probe finds the member's state and starts a new stream.
                pr.snapshot = None;
                pr.restart_probe(pr.matched + 1);
            } else {
                ss.next = ss.acked;
            }
            resend.push(id);
        }
        for id in resend {
            while self.send_append(id) {}
        }
    }

    /// Member: one chunk of the leader's snapshot image.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_snapshot(
        &mut self,
        from: NodeId,
        index: u64,
        snap_term: u64,
        offset: u64,
        total: u64,
        data: Bytes,
    ) {
        self.follow(from);
        let term = self.hs.term;
        let reply = |next: u64, done: bool| Message::SnapshotResp {
            term,
            index,
            next,
            done,
        };
        let holds = index > self.log.offset() && self.log.term(index) == Some(snap_term);
        // Not `index <= commit`: in Volatile mode a majority's power loss can lose committed
        // (not durable) entries, and this node's commit index may then count entries of a
        // history the group no longer has; answering `done` would make the leader take its log
        // as matching through `index` (and send it durable watermarks over a diverged log).
        if index < self.log.offset() || holds {
            // The log already has everything the snapshot covers (the leader committed it, so
            // it may commit here too): keep the log, which may go further.
            if holds {
                self.matched_leader = self.matched_leader.max(index);
                self.advance_follower_commit(index, self.durable);
            }
            self.send(from, reply(total, true));
            self.ack_leader();
            return;
        }
        let key = (term, index, total);
        let expected = match self.recv.as_ref().filter(|r| r.key == key) {
            Some(r) if r.installing => return self.send(from, reply(r.next, false)),
            Some(r) => r.next,
            None if offset == 0 => {
                self.recv = Some(SnapRecv {
                    key,
                    leader: from,
                    next: 0,
                    installing: false,
                });
                0
            }
            None => return self.send(from, reply(0, false)),
        };
        let end = offset.saturating_add(data.len() as u64);
        if offset != expected || data.is_empty() || end > total {
            return self.send(from, reply(expected, false));
        }
        self.out.push(Output::StageSnapshot {
            index,
            offset,
            data,
        });
        let r = self.recv.as_mut().expect("set above");
        r.next = end;
        if end < total {
            return self.send(from, reply(end, false));
        }
        r.installing = true;
        self.out.push(Output::InstallSnapshot {
            index,
            term: snap_term,
            total,
        });
    }

    /// Member: the driver installed the image durably; the core follows it.
    pub(super) fn snapshot_installed(&mut self, image: SnapshotImage) {
        let recv = self.recv.take();
        let meta = &image.meta;
        self.log = MemLog::restore(meta.index, meta.term, Vec::new());
        self.gaps.clear();
        self.persisted = meta.index;
        self.applied = meta.index;
        self.commit = self.commit.max(meta.index);
        self.configs.install(&meta.membership);
        self.out
            .push(Output::MembershipChanged(meta.membership.clone()));
        self.out.push(Output::Watermarks {
            committed: self.commit,
            durable: self.durable,
        });
        self.snapshots_installed += 1;
        let index = meta.index;
        self.snap = Some(image);
        // The log ends at the snapshot now; it matches the leader that streamed it.
        self.matched_leader = self.matched_leader.min(index);
        if let Some(r) = recv.filter(|r| r.key.0 == self.hs.term) {
            self.matched_leader = index;
            self.answer_stream(r.leader, index, r.key.2, true);
            self.ack_leader();
        }
    }

    fn answer_stream(&mut self, leader: NodeId, index: u64, next: u64, done: bool) {
        let term = self.hs.term;
        let msg = Message::SnapshotResp {
            term,
            index,
            next,
            done,
        };
        self.send(leader, msg);
    }

    /// Member: the staged image was bad; ask the leader to start over.
    pub(super) fn snapshot_rejected(&mut self, index: u64) {
        let Some(r) = self.recv.take() else {
            return;
        };
        if r.key.1 == index && r.key.0 == self.hs.term {
            self.answer_stream(r.leader, index, 0, false);
        }
    }
}
