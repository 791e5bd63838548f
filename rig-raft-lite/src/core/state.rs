//! The core's vocabulary: configuration, persisted state, entries, messages, inputs and outputs.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::membership::{Change, StoredMembership};
use super::snapshot::SnapshotImage;

/// A node's id within its group (unique, never reused).
pub type NodeId = u64;

/// When an entry counts as committed (per group, Tupl's two modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Committed once a majority has the entry durable (fsynced). Never loses a committed entry
    /// while a majority of disks survives.
    Strict,
    /// Committed once a majority has received the entry (written, not necessarily fsynced); a
    /// background sync makes it durable on a majority. If a majority loses power before that sync,
    /// committed (but not yet durable) entries may be lost; the `durable` watermark never is.
    Volatile,
}

/// How a node behaves; every duration is counted in [`Input::Tick`]s.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every voting member, this node included: the initial membership, used until storage or
    /// the log holds one (see [`Membership`](super::Membership)).
    pub voters: Vec<NodeId>,
    /// The initial members' addresses, carried into the memberships the group logs (a joining
    /// node learns where to reach everyone from them).
    pub addrs: BTreeMap<NodeId, String>,
    /// The minimum election timeout; the actual one is drawn from `min..2*min` at every reset.
    pub election_ticks: u32,
    /// A leader sends heartbeats this often (must be below `election_ticks`).
    pub heartbeat_ticks: u32,
    /// Appends in flight to one follower before the leader waits for acknowledgments.
    pub max_inflight: usize,
    /// Entries (frames, whole or in part) in one append message.
    pub max_batch: usize,
    /// Bytes of the leader's stream in one append message (default 256 KiB): ranges are cut at
    /// any byte, so a large entry travels in several messages and no message exceeds this
    /// (plus its fixed header) whatever the size of an entry.
    pub max_append_bytes: usize,
    /// The group's commit mode.
    pub commit_mode: CommitMode,
    /// Ask for votes without disturbing the group first (a partitioned node cannot inflate terms).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a majority within an election timeout, and
    /// followers ignore vote requests while they hear from a leader.
    pub check_quorum: bool,
    /// Leader-lease reads (off by default): `read_index` answers at once, without a heartbeat
    /// round, while the lease holds. The lease lasts `election_ticks - lease_margin_ticks` from
    /// the *sending* of the last heartbeat round a majority acknowledged; every follower that
    /// acknowledged it refuses votes for `election_ticks` after *receiving* it (check-quorum,
    /// which the lease requires), and a restarted node refuses votes for `election_ticks`, so no
    /// other leader can be elected before the lease ends if clocks drift by less than the margin.
    pub lease_reads: bool,
    /// The lease's safety margin for clock drift between nodes (in ticks, at least 1).
    pub lease_margin_ticks: u32,
    /// Bytes of snapshot in one [`Message::Snapshot`] chunk (default 1 MiB): a member whose next
    /// entry was compacted away receives the leader's snapshot as a stream of such chunks.
    pub snapshot_chunk: usize,
    /// Snapshot chunks in flight to one member before the leader waits for its answers (flow
    /// control; default 4).
    pub snapshot_window: usize,
    /// A snapshot stream that made no progress for this many ticks is resent from the last
    /// offset the member confirmed; after three such retries it is given up and started over
    /// (the member resumes from what it staged).
    pub snapshot_timeout_ticks: u32,
    /// Entries kept below a compaction request (default 0): with some, a member that lags by
    /// fewer entries catches up from the log instead of receiving a snapshot.
    pub compaction_retention: u64,
}

impl Config {
    /// A configuration with rig's defaults for `id` in a group of `voters`.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Self {
            id,
            voters,
            addrs: BTreeMap::new(),
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_inflight: 8,
            max_batch: 256,
            max_append_bytes: 256 << 10,
            commit_mode: CommitMode::Strict,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            lease_margin_ticks: 2,
            snapshot_chunk: 1 << 20,
            snapshot_window: 4,
            snapshot_timeout_ticks: 20,
            compaction_retention: 0,
        }
    }

    /// How many initial voters make a majority (the effective quorum follows the membership).
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The initial membership: `voters` with their `addrs`.
    pub fn initial_membership(&self) -> super::Membership {
        let mut m = super::Membership::of_voters(self.voters.iter().copied());
        for (id, addr) in &mut m.voters {
            if let Some(a) = self.addrs.get(id) {
                addr.clone_from(a);
            }
        }
        m
    }
}

/// What a node persists (fsync + rename) before it answers: its term and its vote in that term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: u64,
    /// Whom it voted for in `term`.
    pub vote: Option<NodeId>,
}

/// One log entry. `data` is opaque to the core; an empty `data` from a new leader is its no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The leader's term when it appended the entry.
    pub term: u64,
    /// The entry's position (from 1).
    pub index: u64,
    /// The payload.
    pub data: Bytes,
}

/// Messages between nodes. Every message carries its sender's term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// "Would you vote for me in `term`?" (the sender's term stays `term - 1`).
    PreVote {
        /// The term the sender would campaign in.
        term: u64,
        /// The sender's last log index.
        last_index: u64,
        /// The term of that entry.
        last_term: u64,
    },
    /// The answer to [`Message::PreVote`].
    PreVoteResp {
        /// The pre-vote's term when granted, the responder's term otherwise.
        term: u64,
        /// Whether the responder would vote.
        granted: bool,
    },
    /// A vote request.
    Vote {
        /// The candidate's term.
        term: u64,
        /// The candidate's last log index.
        last_index: u64,
        /// The term of that entry.
        last_term: u64,
        /// Set by a leadership transfer: ignore the leader lease.
        force: bool,
    },
    /// The answer to [`Message::Vote`].
    VoteResp {
        /// The responder's term.
        term: u64,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// A byte range of the leader's stream (its log's frames, see `core/stream.rs`), from the
    /// leader of `term`. Positions are the leader's; the range may start and end inside a frame.
    Append {
        /// The leader's term.
        term: u64,
        /// The anchor: the last complete entry before the range (Raft's log-matching check).
        prev_index: u64,
        /// The term of that entry.
        prev_term: u64,
        /// The leader's stream position where entry `prev_index` ends.
        base: u64,
        /// The position of the range's first byte; `start - base` bytes of entry
        /// `prev_index + 1`'s frame went out in earlier ranges.
        start: u64,
        /// When `start > base`: the term and frame length of entry `prev_index + 1` (a member
        /// holding that entry at that term skips the rest of its frame).
        cont: Option<(u64, u64)>,
        /// The bytes (possibly none).
        bytes: Bytes,
        /// The leader's commit index.
        commit: u64,
        /// The leader's durable watermark.
        durable: u64,
    },
    /// The answer to [`Message::Append`], also sent when a follower's log becomes durable.
    AppendResp {
        /// The responder's term.
        term: u64,
        /// Accepted: the index through which the responder's log matches the leader's.
        /// Rejected: the rejected `prev_index`.
        index: u64,
        /// The index through which the matching log is durable on the responder.
        persisted: u64,
        /// `Some(last index)` when the append was rejected (a hint where to probe).
        reject: Option<u64>,
        /// The leader's stream position through which the responder holds the stream in the
        /// leader's term (flow control for ranges that end inside a frame; 0 when unknown).
        received: u64,
    },
    /// A heartbeat; `seq` numbers read-index rounds.
    Heartbeat {
        /// The leader's term.
        term: u64,
        /// The leader's commit index, capped at what this follower is known to match.
        commit: u64,
        /// The leader's durable watermark, capped the same way.
        durable: u64,
        /// Every voter has this prefix durable: followers may compact through it.
        floor: u64,
        /// The read-index round.
        seq: u64,
    },
    /// The answer to [`Message::Heartbeat`].
    HeartbeatResp {
        /// The responder's term.
        term: u64,
        /// The round being answered.
        seq: u64,
    },
    /// A leadership transfer: campaign now.
    TimeoutNow {
        /// The leader's term.
        term: u64,
    },
    /// A follower asks for entries `from ..= to` to fill a gap (see `gaps.rs`).
    Fetch {
        /// The asker's term.
        term: u64,
        /// The first missing index.
        from: u64,
        /// The last index wanted.
        to: u64,
    },
    /// The answer to [`Message::Fetch`]: committed entries (any node) or the leader's entries.
    FetchResp {
        /// The responder's term.
        term: u64,
        /// The index before the first entry.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// The entries' frames, back to back (none when lacking).
        bytes: Bytes,
        /// The responder does not have the range (or not committed): ask the leader.
        lacking: bool,
    },
    /// A new node asks to join the group (handled by the driver, never the core): sent to a
    /// seed, forwarded to the leader, which adds it as an observer.
    Join {
        /// The new node's id (the one its link authenticated as).
        id: NodeId,
        /// Where the members reach it.
        addr: String,
    },
    /// The leader's answer to [`Message::Join`]: the membership that includes the new node.
    JoinResp {
        /// The leader's term.
        term: u64,
        /// The membership and its control entry's index.
        membership: super::membership::StoredMembership,
    },
    /// One chunk of the leader's snapshot image, for a member whose next entry the leader
    /// compacted away (see `core/snapshot_stream.rs`).
    Snapshot {
        /// The leader's term.
        term: u64,
        /// The last index the snapshot covers.
        index: u64,
        /// That entry's term.
        snap_term: u64,
        /// Where `data` starts in the image.
        offset: u64,
        /// The image's length.
        total: u64,
        /// The bytes `offset .. offset + data.len()`.
        data: Bytes,
    },
    /// The answer to [`Message::Snapshot`]: the next offset the member wants (it resumes from
    /// there), or `done` once the snapshot is installed (or its log already covers it).
    SnapshotResp {
        /// The responder's term.
        term: u64,
        /// The snapshot's index.
        index: u64,
        /// The next offset wanted.
        next: u64,
        /// Installed (or not needed).
        done: bool,
    },
}

impl Message {
    /// The sender's term as the message states it.
    pub fn term(&self) -> u64 {
        match *self {
            Message::PreVote { term, .. }
            | Message::PreVoteResp { term, .. }
            | Message::Vote { term, .. }
            | Message::VoteResp { term, .. }
            | Message::Append { term, .. }
            | Message::AppendResp { term, .. }
            | Message::Heartbeat { term, .. }
            | Message::HeartbeatResp { term, .. }
            | Message::TimeoutNow { term }
            | Message::JoinResp { term, .. }
            | Message::Fetch { term, .. }
            | Message::FetchResp { term, .. }
            | Message::Snapshot { term, .. }
            | Message::SnapshotResp { term, .. } => term,
            Message::Join { .. } => 0,
        }
    }
}

/// What the driver feeds the core.
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passed (one tick).
    Tick,
    /// A message arrived.
    Message(NodeId, Message),
    /// Append these payloads (leader only).
    Propose(Vec<Bytes>),
    /// The log is durable through `index`, whose entry had `term` when it was written.
    Persisted {
        /// The highest durable index.
        index: u64,
        /// Its entry's term.
        term: u64,
    },
    /// The engine applied through this index; entries at or below may be compacted.
    Compact(u64),
    /// Hand leadership to this node.
    TransferLeader(NodeId),
    /// A linearizable read: answer with [`Output::ReadReady`] or [`Output::ReadFailed`].
    ReadIndex(u64),
    /// Leader: propose a membership change (answered with [`Output::Proposed`] or
    /// [`Output::MembershipRejected`]).
    ChangeMembership(Change),
    /// The node's engine snapshot is durable as this image: it is streamed to members that need
    /// compacted entries, and the log may be compacted through it.
    SnapshotSaved(SnapshotImage),
    /// The answer to [`Output::InstallSnapshot`]: the staged image was verified and installed
    /// durably (snapshot stored, log replaced by its end).
    SnapshotInstalled(SnapshotImage),
    /// The answer to [`Output::InstallSnapshot`]: the staged image failed verification (length
    /// or checksum) and was dropped; the stream starts over.
    SnapshotRejected {
        /// The snapshot's index.
        index: u64,
    },
}

/// What the core asks the driver to do, in order. Persist outputs MUST be carried out before any
/// later [`Output::Send`] (hard state: fsync and rename before sending; entries: written, and in
/// `Strict` mode synced before reporting [`Input::Persisted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to`.
    Send(NodeId, Message),
    /// Persist the hard state (fsync + rename) before any later send.
    PersistHardState(HardState),
    /// Write these entries, first truncating the log after `entries[0].index - 1`. The bytes
    /// are their frames back to back, as the leader encoded them (write them verbatim with
    /// [`Storage::write_frames`](crate::storage::Storage::write_frames)).
    PersistEntries(Vec<Entry>, Bytes),
    /// These committed entries are ready to apply, in order.
    Apply(Vec<Entry>),
    /// The commit and durable watermarks moved.
    Watermarks {
        /// The highest committed index.
        committed: u64,
        /// The highest index durable on a majority (and committed).
        durable: u64,
    },
    /// The known leader or term changed.
    LeaderChanged {
        /// The current term.
        term: u64,
        /// The leader of that term, when known.
        leader: Option<NodeId>,
    },
    /// A proposal got these consecutive indexes in `term`.
    Proposed {
        /// The first index.
        first: u64,
        /// The last index.
        last: u64,
        /// The leader's term.
        term: u64,
    },
    /// A proposal was refused (not the leader, or a transfer is under way).
    ProposalRejected {
        /// The leader, when known.
        leader: Option<NodeId>,
    },
    /// The log may be compacted through this index (entries dropped from the core's memory).
    Compacted(u64),
    /// A read may proceed once the state is applied through `index`.
    ReadReady {
        /// The caller's id from [`Input::ReadIndex`].
        id: u64,
        /// The read index.
        index: u64,
    },
    /// The effective membership changed (a control entry was written or truncated): persist it
    /// (fsync + rename) before any later send, and reach the new members. The log entries that
    /// carry a membership MUST be synced before any later send too, in both commit modes.
    MembershipChanged(StoredMembership),
    /// A membership change was refused.
    MembershipRejected {
        /// Why.
        reason: String,
        /// The leader, when known.
        leader: Option<NodeId>,
    },
    /// Stage this chunk of an incoming snapshot image at `offset` (0 starts a new image, dropping
    /// whatever was staged). Staging need not be durable: a crash only restarts the stream, and
    /// never touches the node's current snapshot or log.
    StageSnapshot {
        /// The snapshot's index.
        index: u64,
        /// Where the chunk starts.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// The staged image is complete: verify it (its length is `total`, its checksum), then store
    /// it as the node's durable snapshot and replace the whole log by its end (no entries,
    /// compacted through `index` of `term`), durably, before anything else; answer with
    /// [`Input::SnapshotInstalled`] or [`Input::SnapshotRejected`].
    InstallSnapshot {
        /// The last index it covers.
        index: u64,
        /// That entry's term.
        term: u64,
        /// The image's length.
        total: u64,
    },
    /// A read could not be confirmed (not the leader, or leadership was lost).
    ReadFailed {
        /// The caller's id.
        id: u64,
        /// The leader, when known.
        leader: Option<NodeId>,
    },
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes.
    PreCandidate,
    /// Asking for votes.
    Candidate,
    /// Accepts proposals.
    Leader,
}
