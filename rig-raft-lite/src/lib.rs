//! rig's Raft log: a sans-IO Raft core with pre-vote, check-quorum, leadership transfer,
//! pipelined and flow-controlled replication, and two commit modes (`Strict`, `Volatile`), plus
//! [`RaftLog`], the async driver that puts it behind rig-core's [`Log`](rig_core::Log) trait.
//!
//! ```
//! use rig_core::seams::SeededRand;
//! use rig_raft_lite::core::{Config, Input, Raft, Restored};
//!
//! let mut node = Raft::new(Config::new(1, vec![1]), Box::new(SeededRand::new(1)), Restored::default());
//! for _ in 0..40 {
//!     node.step(Input::Tick);
//! }
//! assert!(node.is_leader());
//! ```
//!
//! # Layers
//! - [`core`]: the decisions. Fed [`core::Input`]s (ticks, messages, proposals, storage
//!   completions), it returns [`core::Output`]s to carry out in order. No I/O, no clock, no
//!   ambient randomness: a seed decides every run.
//! - [`storage`]: a node's disk, [`storage::FsStorage`] through the `Fs` seam (hard state by
//!   write + fsync + rename; checksummed log records chained by term so a torn rewrite is never
//!   misread) or [`storage::MemStorage`].
//! - [`driver`]: [`RaftLog`], one task per node, messages over a [`driver::Network`]: in process
//!   ([`driver::Router`]) or rig-core's authenticated links over any `Transport`
//!   ([`driver::NetNetwork`]: TCP in production, SimNet in simulation), encoded by [`wire`].
//!
//! # Commit modes and durability
//! - `Strict`: an entry commits once a majority has it fsynced. An acknowledged op survives any
//!   crash that leaves a majority of disks.
//! - `Volatile`: an entry commits once a majority has *received* it; a background sync (every
//!   `Options::sync_interval`, at most one second) makes it durable on a majority, which the
//!   `durable` watermark reports. A committed-but-not-durable op is lost if nodes of the majority
//!   that received it lose power before that sync (process crashes keep the page cache and lose
//!   nothing); the `durable` watermark is never lost. So losing power on a majority at once can
//!   lose acknowledged ops in Volatile mode (those acknowledged at `Applied` or `Local`), never in
//!   Strict mode (`tests/power_loss.rs` shows both). A node that had already applied entries the
//!   group then lost stops with `Corrupt` rather than serve a history the group no longer has;
//!   restarting it reloads its log and it follows the leader again.
//!
//! [`Durability`](rig_core::Durability) maps onto these: `Applied` resolves once committed
//! (Volatile: received by a majority), `Local` once also fsynced on the leader, `Replicated` once
//! durable on a majority (Volatile: after the background sync).
//!
//! # Versions
//! Raft indexes also hold each new leader's no-op; rig versions count only data entries, so
//! versions stay gap-free. The leader assigns them from the last data entry of its own log, which
//! holds every committed entry.
//!
//! # Reads
//! Reads on a follower are local (possibly stale). `read_barrier` on the leader is linearizable:
//! by default through read index (a heartbeat round confirms leadership); with
//! [`core::Config::lease_reads`] the leader answers at once while its lease holds. The lease runs
//! `election_ticks - lease_margin_ticks` from the sending of the last heartbeat round a majority
//! acknowledged; followers that acknowledged refuse votes for `election_ticks` after receiving
//! it, and a restarted node refuses votes for `election_ticks`, so the lease is safe as long as
//! clocks drift apart by less than the margin; a leadership transfer revokes it for the term.
//!
//! # Tupl's differences from Raft (part 2)
//! - Membership ([`core::Membership`]): a node joins through seed addresses
//!   ([`driver::NetNetwork::join`], [`RaftLog::add_member`]) as a non-voting observer that
//!   receives the log, and the leader promotes it to voter with a control entry once its log
//!   reached the commit index; [`RaftLog::remove_member`] removes one. One change at a time, each
//!   durable on a majority before the next; control entries are synced and the membership file
//!   (`raft.members`) is written with fsync and rename in both commit modes. The link handshake
//!   carries the group id and two tokens: a node with a wrong token is refused and told why.
//! - Out-of-order acceptance and gap filling (`core/gaps.rs`): a follower keeps appends that
//!   arrive beyond a gap, never applies past `min(commit, contiguous)`, and fetches the missing
//!   range in chunks from a random voting peer (committed entries) or the leader.
//!
//! # Limits
//! Compaction never drops an entry some member may still need (the floor is the prefix durable
//! on every member), because snapshots are not yet streamed to lagging followers: a joining node
//! receives the whole log. Replication is message-oriented (entries), not Tupl's byte-range
//! stream, and the leader does not delegate forwarding to a peer. A leader cannot remove itself
//! (transfer leadership first).
#![forbid(unsafe_code)]

pub mod core;
pub mod driver;
pub mod storage;
pub mod wire;

pub use driver::{Options, RaftLog};
