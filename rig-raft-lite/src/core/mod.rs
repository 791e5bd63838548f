//! The sans-IO Raft core: a state machine fed with [`Input`]s that returns [`Output`]s.
//!
//! The core never touches a disk, socket or clock. The driver feeds it ticks, messages, proposals
//! and storage completions, then carries out the outputs in order (see [`Output`] for the
//! persistence rule that keeps terms and votes durable before any answer leaves the node).
//!
//! One concern per file: [`election`](self) (pre-vote, votes, check-quorum, transfer),
//! replication (progress, pipelining, flow control), commit (watermarks, apply), reads (read
//! index), snapshot (compaction) and snapshot streaming (`snapshot_stream.rs`).

mod commit;
mod election;
mod gaps;
mod log;
mod membership;
mod reads;
mod replication;
mod snapshot;
mod snapshot_stream;
mod state;
pub mod stream;
mod stream_recv;

use std::collections::BTreeMap;

use rig_core::seams::Rand;

pub use self::log::MemLog;
pub use self::membership::{is_control, Change, Membership, StoredMembership, CONTROL_TAG};
pub use self::replication::Progress;
pub use self::snapshot::{SnapshotImage, SnapshotMeta};
pub use self::state::{
    CommitMode, Config, Entry, HardState, Input, Message, NodeId, Output, RoleKind,
};

/// What a node loads from its storage at start-up.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The persisted term and vote.
    pub hard_state: HardState,
    /// The compaction point (a snapshot's index; 0 for none).
    pub snapshot_index: u64,
    /// Its term.
    pub snapshot_term: u64,
    /// The durable entries after `snapshot_index`.
    pub entries: Vec<Entry>,
    /// The persisted membership (`None`: the configuration's initial one).
    pub membership: Option<StoredMembership>,
    /// The node's durable snapshot. When it reaches the compaction point and the log holds
    /// its last entry (or ends at it), the node starts with everything through it applied.
    pub snapshot: Option<SnapshotImage>,
}

/// One Raft node's decision logic.
///
/// ```
/// use rig_core::seams::SeededRand;
/// use rig_raft_lite::core::{Config, Input, Output, Raft, Restored};
///
/// // A single-node group elects itself and commits a proposal once it is persisted.
/// let mut node = Raft::new(Config::new(1, vec![1]), Box::new(SeededRand::new(7)), Restored::default());
/// for _ in 0..40 {
///     node.step(Input::Tick);
/// }
/// assert!(node.is_leader());
/// node.step(Input::Propose(vec![bytes::Bytes::from_static(b"x")]));
/// let last = node.last_index();
/// node.step(Input::Persisted { index: last, term: node.term() });
/// assert_eq!(node.commit(), last);
/// assert!(node.take_outputs().iter().any(|o| matches!(o, Output::Apply(_))));
/// ```
#[derive(Debug)]
pub struct Raft {
    cfg: Config,
    rand: Box<dyn Rand>,
    hs: HardState,
    role: RoleKind,
    leader: Option<NodeId>,
    log: MemLog,
    gaps: gaps::Gaps,
    configs: membership::Configs,
    commit: u64,
    durable: u64,
    applied: u64,
    /// The local log is durable through this index.
    persisted: u64,
    /// Follower: the highest index known to match the current leader's log.
    matched_leader: u64,
    /// Follower: the compaction floor the leader announced.
    floor: u64,
    election_elapsed: u32,
    randomized_timeout: u32,
    /// Ticks since start (every role): the leader lease's clock.
    now: u64,
    /// Lease reads: a (re)started node refuses votes for an election timeout, since it cannot
    /// know which leader's lease it acknowledged before it stopped.
    quiet_after_boot: bool,
    heartbeat_elapsed: u32,
    votes: BTreeMap<NodeId, bool>,
    progress: BTreeMap<NodeId, Progress>,
    transfer: Option<(NodeId, u32)>,
    reads: reads::Reads,
    out: Vec<Output>,
    /// The node's durable snapshot, served to members whose next entry was compacted away.
    snap: Option<SnapshotImage>,
    /// Member: a snapshot stream being received.
    recv: Option<snapshot_stream::SnapRecv>,
    snapshots_installed: u64,
    /// Reused buffers for the commit computation (received, persisted per voter).
    scratch: (Vec<u64>, Vec<u64>),
    /// Follower: the leader's stream being assembled (see `stream_recv.rs`).
    stream: stream_recv::StreamRecv,
}

impl Raft {
    /// A node starting from what its storage holds (a follower with no known leader).
    pub fn new(cfg: Config, rand: Box<dyn Rand>, restored: Restored) -> Self {
        let log = MemLog::restore(
            restored.snapshot_index,
            restored.snapshot_term,
            restored.entries,
        );
        let snap = restored.snapshot.filter(|s| {
            s.meta.index >= log.offset() && log.term(s.meta.index) == Some(s.meta.term)
        });
        let configs = membership::Configs::restore(
            cfg.initial_membership(),
            restored.membership,
            snap.as_ref().map(|s| &s.meta.membership),
            log.offset(),
            log.entries(),
        );
        let offset = log.offset();
        let applied = snap.as_ref().map_or(offset, |s| s.meta.index);
        let persisted = log.last_index();
        let mut raft = Self {
            cfg,
            rand,
            hs: restored.hard_state,
            role: RoleKind::Follower,
            leader: None,
            log,
            gaps: gaps::Gaps::default(),
            configs,
            commit: applied,
            durable: offset,
            applied,
            persisted,
            matched_leader: 0,
            floor: 0,
            election_elapsed: 0,
            randomized_timeout: 0,
            now: 0,
            quiet_after_boot: false,
            heartbeat_elapsed: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            transfer: None,
            reads: reads::Reads::default(),
            out: Vec::new(),
            snap,
            recv: None,
            snapshots_installed: 0,
            scratch: (Vec::new(), Vec::new()),
            stream: stream_recv::StreamRecv::default(),
        };
        raft.quiet_after_boot = raft.cfg.lease_reads && raft.cfg.check_quorum;
        raft.reset_election_timer();
        raft
    }

    /// Feeds one input; collect the results with [`take_outputs`](Raft::take_outputs).
    pub fn step(&mut self, input: Input) {
        match input {
            Input::Tick => self.tick(),
            Input::Message(from, msg) => self.on_message(from, msg),
            Input::Propose(data) => self.propose(data),
            Input::Persisted { index, term } => self.on_persisted(index, term),
            Input::Compact(index) => self.compact(index),
            Input::TransferLeader(to) => self.transfer_leader(to),
            Input::ReadIndex(id) => self.read_index(id),
            Input::ChangeMembership(change) => self.change_membership(change),
            Input::SnapshotSaved(image) => self.snapshot_saved(image),
            Input::SnapshotInstalled(image) => self.snapshot_installed(image),
            Input::SnapshotRejected { index } => self.snapshot_rejected(index),
        }
    }

    /// The outputs produced since the last call, in the order they must be carried out.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    /// The current term.
    pub fn term(&self) -> u64 {
        self.hs.term
    }
    /// The persisted term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hs
    }
    /// The current role.
    pub fn role(&self) -> RoleKind {
        self.role
    }
    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.role == RoleKind::Leader
    }
    /// The leader of the current term, when known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The highest committed index.
    pub fn commit(&self) -> u64 {
        self.commit
    }
    /// The highest index committed and durable on a majority.
    pub fn durable(&self) -> u64 {
        self.durable
    }
    /// The highest index handed out in [`Output::Apply`].
    pub fn applied(&self) -> u64 {
        self.applied
    }
    /// The highest index durable in the local log.
    pub fn persisted(&self) -> u64 {
        self.persisted
    }
    /// The last index in the log.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    /// The compaction point: entries at or below it are gone from the log.
    pub fn compacted(&self) -> u64 {
        self.log.offset()
    }
    /// The in-memory log.
    pub fn log(&self) -> &MemLog {
        &self.log
    }
    /// How many reads this node answered under its leader lease (without a heartbeat round).
    pub fn lease_reads_served(&self) -> u64 {
        self.reads.lease_served
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.out.push(Output::Send(to, msg));
    }

    /// Every other member (voters and observers).
    fn peers(&self) -> Vec<NodeId> {
        let me = self.cfg.id;
        self.membership()
            .all()
            .map(|(id, _)| id)
            .filter(|&p| p != me)
            .collect()
    }

    /// Every other voter.
    fn voting_peers(&self) -> Vec<NodeId> {
        let me = self.cfg.id;
        self.membership()
            .voters
            .keys()
            .copied()
            .filter(|&p| p != me)
            .collect()
    }

    /// How many voters make a majority of the effective membership.
    fn quorum(&self) -> usize {
        self.membership().quorum()
    }

    fn persist_hard_state(&mut self) {
        self.out.push(Output::PersistHardState(self.hs));
    }

    fn set_leader(&mut self, leader: Option<NodeId>) {
        if self.leader != leader {
            self.leader = leader;
            self.out.push(Output::LeaderChanged {
                term: self.hs.term,
                leader,
            });
        }
    }

    /// Moves to `term` (persisting it) as a follower of `leader`.
    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        let was_leader = self.role == RoleKind::Leader;
        if term > self.hs.term {
            self.hs = HardState { term, vote: None };
            self.persist_hard_state();
            self.matched_leader = 0;
            // A partial frame of the old leader's is never completed by the new one.
            self.stream.reset();
            self.leader = None;
            self.out.push(Output::LeaderChanged { term, leader: None });
        }
        self.role = RoleKind::Follower;
        self.progress.clear();
        self.transfer = None;
        if was_leader {
            self.fail_reads();
        }
        self.set_leader(leader);
        self.reset_election_timer();
    }

    fn on_message(&mut self, from: NodeId, msg: Message) {
        // Messages from nodes outside this node's membership are taken too: a member that
        // missed the control entry adding the leader must still hear that leader. A removed node
        // cannot disrupt: pre-vote needs a majority with no more log than it has, and it lacks
        // its removal, which a majority holds.
        if from == self.cfg.id {
            return;
        }
        let term = msg.term();
        if term > self.hs.term {
            match msg {
                Message::PreVote { .. } => {}
                Message::PreVoteResp { granted: true, .. } => {}
                Message::Vote { force: false, .. } if self.in_lease() => return,
                Message::Append { .. } | Message::Heartbeat { .. } | Message::Snapshot { .. } => {
                    self.become_follower(term, Some(from))
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.hs.term {
            match msg {
                Message::Append { .. } | Message::Heartbeat { .. } | Message::Snapshot { .. } => {
                    let t = self.hs.term;
                    self.send(
                        from,
                        Message::AppendResp {
                            term: t,
                            index: 0,
                            persisted: 0,
                            reject: Some(0),
                            received: 0,
                        },
                    );
                }
                Message::PreVote { .. } => {
                    let t = self.hs.term;
                    self.send(
                        from,
                        Message::PreVoteResp {
                            term: t,
                            granted: false,
                        },
                    );
                }
                _ => {}
            }
            return;
        }
        match msg {
            Message::PreVote {
                term,
                last_index,
                last_term,
            } => self.on_pre_vote(from, term, last_index, last_term),
            Message::PreVoteResp { term, granted } => self.on_pre_vote_resp(from, term, granted),
            Message::Vote {
                last_index,
                last_term,
                ..
            } => self.on_vote(from, last_index, last_term),
            Message::VoteResp { granted, .. } => self.on_vote_resp(from, granted),
            Message::Append {
                term,
                prev_index,
                prev_term,
                base,
                start,
                cont,
                bytes,
                commit,
                durable,
            } => {
                let range = stream_recv::Range {
                    term,
                    prev_index,
                    prev_term,
                    base,
                    start,
                    cont,
                    bytes,
                };
                self.on_append(from, range, commit, durable);
            }
            Message::AppendResp {
                index,
                persisted,
                reject,
                received,
                ..
            } => self.on_append_resp(from, index, persisted, reject, received),
            Message::Heartbeat {
                commit,
                durable,
                floor,
                seq,
                ..
            } => self.on_heartbeat(from, commit, durable, floor, seq),
            Message::HeartbeatResp { seq, .. } => self.on_heartbeat_resp(from, seq),
            Message::TimeoutNow { .. } => self.on_timeout_now(from),
            Message::Fetch {
                from: start, to, ..
            } => self.on_fetch(from, start, to),
            Message::FetchResp {
                prev_index,
                prev_term,
                bytes,
                lacking,
                ..
            } => self.on_fetch_resp(from, prev_index, prev_term, bytes, lacking),
            Message::Snapshot {
                index,
                snap_term,
                offset,
                total,
                data,
                ..
            } => self.on_snapshot(from, index, snap_term, offset, total, data),
            Message::SnapshotResp {
                index, next, done, ..
            } => self.on_snapshot_resp(from, index, next, done),
            // The driver's business (see `Message::Join`).
            Message::Join { .. } | Message::JoinResp { .. } => {}
        }
    }

    fn tick(&mut self) {
        self.now += 1;
        if self.role == RoleKind::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
            self.tick_gaps();
        }
    }
}
