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
//!   write + fsync + rename; the log is the replicated frames, checksummed and chained by term so
//!   a torn rewrite is never misread) or [`storage::MemStorage`].
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
//!   Strict mode (`tests/power_loss.rs` shows both, `tests/sim_power_loss.rs` under a randomized
//!   nemesis). An op that reached only a bare majority (a third node down or cut off) is lost
//!   even if just one of those nodes loses power before the sync. A node that had already applied entries the
//!   group then lost stops with `Corrupt` rather than serve a history the group no longer has;
//!   restarting it reloads its log and it follows the leader again.
//!
//! [`Durability`](rig_core::Durability) maps onto these: `Applied` resolves once committed
//! (Volatile: received by a majority), `Local` once also fsynced on the leader, `Replicated` once
//! durable on a majority (Volatile: after the background sync).
//!
//! # Stream-oriented replication
//! An entry has one encoding everywhere, its *frame* ([`core::stream`]: length, CRC32C, term,
//! index, the previous entry's term, data), which is also its record in the log file. The leader
//! encodes an entry once and ships byte ranges of its stream of frames, addressed by position and
//! anchored at the last complete entry before them (Raft's log-matching check). Ranges are cut at
//! any byte, at most [`core::Config::max_append_bytes`] each, so a message stays bounded however
//! large an entry is. Followers assemble frames, check each one (checksum, index, chain) and hand
//! storage the exact bytes received ([`storage::Storage::write_frames`]): nothing is re-encoded,
//! and a follower's log file equals the leader's byte for byte (the file *is* the replication
//! stream). Message boundaries are layered on top: the bytes of a frame still arriving are held
//! in memory and dropped on a term change or a campaign, so a leader change never tears an entry,
//! and a frame that fails its checks is dropped and counted ([`core::Raft::bad_frames`]), never
//! applied. Out-of-order ranges wait in a stash keyed by position; gaps are filled from peers.
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
//! # Snapshots, streaming and compaction
//! The engine's snapshot becomes the Raft snapshot. `save_snapshot` maps its version to the log
//! entry that holds it and stores an *image* (`raft.snap`, see
//! [`storage::encode_snapshot_image`]): that entry's index and term, the membership in force
//! there, and the engine's bytes, under one CRC32C, written with fsync and rename. A node
//! reloads its image at start, so a restarted leader still serves it; a snapshot older than the
//! node's current one is not stored.
//!
//! `compact(through)` drops the entries through the snapshot's entry at once (it no longer
//! waits for the slowest member), less [`core::Config::compaction_retention`] entries (default
//! 0): with some retention, a member that lags by fewer entries catches up from the log instead
//! of a snapshot. In Volatile mode compaction also stops at the `durable` watermark, so entries a
//! majority power loss could take back stay in the log.
//!
//! A member whose next entry the leader compacted away (a lagging follower, a restarted or wiped
//! node, a joining observer) receives the image as a stream of [`core::Message::Snapshot`]
//! chunks of at most [`core::Config::snapshot_chunk`] bytes (default 1 MiB), with at most
//! [`core::Config::snapshot_window`] chunks unconfirmed (default 4). The member stages each chunk
//! that continues what it holds (`raft.snap.part`; its current snapshot and log are untouched,
//! so a crash midway loses only the staging) and answers with the offset it wants next; the
//! leader resumes from there. A new leader or a newer snapshot starts a new stream from offset 0;
//! a stream without progress for [`core::Config::snapshot_timeout_ticks`] is resent from the
//! last confirmed offset, and given up and restarted after three resends (the member then
//! resumes from what it staged). Once complete, the image is verified (length and checksum),
//! renamed over `raft.snap`, and the log is replaced by its end (a crash between the two is
//! finished at the next load); only then does the member answer and receive the log after it.
//! Its `load_snapshot` returns the leader engine's bytes verbatim, `committed() >= version` and
//! `first_version()` jumps to `version + 1`, so rig's engine restores the snapshot while tailing,
//! without a reopen. [`RaftLog::snapshots_installed`] counts installs.
//!
//! # Tupl's differences from Raft (part 2)
//! - Membership ([`core::Membership`]): a node joins through seed addresses
//!   ([`driver::NetNetwork::join`], [`RaftLog::add_member`]) as a non-voting observer that
//!   receives the snapshot (when the log was compacted) and the log, and the leader promotes it to voter with a control entry once its log
//!   reached the commit index; [`RaftLog::remove_member`] removes one. One change at a time, each
//!   durable on a majority before the next; control entries are synced and the membership file
//!   (`raft.members`) is written with fsync and rename in both commit modes. The link handshake
//!   carries the group id and two tokens: a node with a wrong token is refused and told why.
//! - Out-of-order acceptance and gap filling (`core/gaps.rs`): a follower keeps appends that
//!   arrive beyond a gap, never applies past `min(commit, contiguous)`, and fetches the missing
//!   range in chunks from a random voting peer (committed entries) or the leader.
//!
//! # Limits
//! A node that never saved a snapshot compacts only through the prefix durable on every member
//! (it would have nothing to stream). The leader holds its image in memory while it serves it
//! (the engine's snapshot API is in-memory bytes anyway). Replication is message-oriented
//! (entries), not Tupl's byte-range stream, and the leader does not delegate forwarding to a
//! peer. A leader cannot remove itself (transfer leadership first).
#![forbid(unsafe_code)]

pub mod core;
pub mod driver;
pub mod storage;
pub mod wire;

pub use driver::{Options, RaftLog};
