//! rig's primary/replica log: one primary takes writes and runs every batch through a two-phase
//! commit on its replica(s), over an authenticated link (the seed's first Rig, OrigoDB's model).
//!
//! # Quick start
//! ```
//! use rig_core::net::handshake::HandshakeConfig;
//! use rig_core::{Durability, Log, Operation, Role};
//! use rig_log_file::{FileLog, FileLogOptions};
//! use rig_repl_2pc::{Config, ReplLog, StartAs};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let file = |name: &str| FileLog::open(dir.path().join(name), FileLogOptions::default());
//! let hs = |node: &str| HandshakeConfig::new("orders", [1, 2], node, b"psk".to_vec());
//!
//! let replica = ReplLog::open(file("b")?, Config::new("127.0.0.1:0", StartAs::Replica, hs("b"))).await?;
//! let to = vec![replica.local_addr().to_string()];
//! let primary = ReplLog::open(file("a")?, Config::new("127.0.0.1:0", StartAs::Primary { replicas: to }, hs("a"))).await?;
//!
//! // Acknowledged once durable on both nodes.
//! let v = primary.append(vec![Operation::new("set", "x=1")], Durability::Replicated).await?;
//! assert_eq!(v, 1);
//! // The replica serves reads and redirects writes.
//! replica.wait_committed(0).await?;
//! assert_eq!(replica.read(1, 10).await?[0].op.data, "x=1");
//! assert!(matches!(replica.role(), Role::Follower { leader: Some(_) }));
//! # primary.close().await?; replica.close().await?;
//! # Ok::<(), rig_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Protocol
//! Each node keeps its own durable local log (a [`rig_log_file::FileLog`]) of records: `Prepare`
//! (version, op), `Commit` (through a version), `Rollback` (from a version) and `Epoch`.
//! Replaying them rebuilds the replicated log. A round, for every batch of appends queued
//! together:
//! 1. **prepare locally**: the primary writes the `Prepare` records (fsync);
//! 2. **prepare on the replicas**: each writes them (fsync) and answers `Prepared` (the primary
//!    sends the Prepare before its own fsync, so the two overlap);
//! 3. **commit locally**: the primary commits in memory. Until here the round can be rolled
//!    back (`Rollback` record and message); from here on there is no turning back. Its
//!    `Commit` record is not waited for: it rides in front of the next records the primary
//!    writes (the next round's `Prepare` records, so one write and one fsync cover both), or,
//!    when the commit leaves no round in flight, is written alone (not waited for) before the
//!    acknowledgments;
//! 4. **commit on the replicas**: the next round's `Prepare` carries the commit point; a
//!    `Commit` goes out alone once no round is in flight to carry it (at once to a replica
//!    that did not take every round in flight, e.g. one catching up);
//! 5. **acknowledge**, as soon as the commit is decided: an acknowledged op is durably
//!    prepared in the primary's own log and on every replica the policy waited for, and
//!    committed in the primary's memory. It is durably committed once its `Commit` record
//!    rode an fsync; until then every way a log reopens commits it (see "Why a crash is
//!    safe"). A failed write of the record stops the node.
//!
//! Every message carries the sender's epoch. Links (rig-core's [`rig_core::net`]) are
//! authenticated by group id, group tokens and a pre-shared key; a peer failing the handshake is
//! logged and gets nothing. Replicas reject writes with `NotLeader { leader }` and serve reads.
//!
//! **Rounds are numbered.** A `Prepare` carries its round's id and the `Prepared` answering it
//! echoes it: only an answer to the round in flight counts, so a late answer from a timed-out,
//! rolled-back round never acknowledges the next round at the same versions.
//!
//! **Start-up sync.** On every new link the primary sends `Sync` with its commit point; the
//! link becomes the replica's session with that primary (messages still arriving on an older
//! link are ignored). The replica resolves its prepared-but-uncommitted entries without ever
//! dropping one that may have been acknowledged: entries at or below the primary's commit point
//! are kept and checked against the primary's copies (`Fetch`/`Entries`: an identical entry is
//! kept as is, a different one is replaced), then committed; only entries past both commit
//! points, which no primary acknowledged, are rolled back. A replica commits only entries it
//! has checked against its current primary, so a stale entry left by another primary or by a
//! rolled-back round is never committed. A restarted primary first replicates and commits its
//! own durable prepared tail again, never rolling it back (it may hold acknowledged ops whose
//! `Commit` record was lost, and a replica may have committed it already); under `Strict` it
//! waits for its replicas as long as that takes, failing new writes with `Unavailable`
//! meanwhile. Until that recovery round committed, its `Sync` announces the end of that tail as
//! its commit point, so a replica keeps those entries (and checks them) instead of rolling
//! them back and waiting for them to be prepared again.
//!
//! # Failure policy
//! - [`Policy::Strict`]: no acknowledgment without every replica. After the timeout the round is
//!   rolled back and the waiters get `Unavailable` (no replica saw it) or `OutcomeUnknown` (a
//!   replica may hold it prepared, and would commit it if promoted).
//! - [`Policy::SemiSync`]: after the timeout the primary commits alone, marks the replica
//!   lagging ([`Mode::Degraded`]), streams the backlog, and waits for it again once it has
//!   caught up. [`ReplLog::status`] reports the mode and each replica's lag.
//!
//! # Compaction and snapshots
//! [`Log::compact`](rig_core::Log::compact) (after the engine saved a snapshot) drops the
//! entries through the snapshot from memory at once and writes a checkpoint record to the
//! local log, which then drops the records before it: memory and disk hold only the entries
//! after the newest snapshot. A replica that needs entries its primary compacted (it was wiped,
//! or fell that far behind) is sent the snapshot in chunks, installs it, and fetches the
//! entries after it. The installed snapshot is durable and is the one
//! [`Log::load_snapshot`](rig_core::Log::load_snapshot) returns before the log's
//! `first_version` moves past it (and the commit point is at least its version), so an engine
//! running on that replica restores it on the spot and goes on applying the entries after it,
//! without being reopened.
//!
//! # Batching and pipelining
//! Every `append` queued when the primary looks joins one round (up to 4096 operations), so
//! concurrent writers share one prepare fsync, one replica fsync and one round trip. Up to
//! [`Config::max_rounds_in_flight`] rounds (8 by default) are in flight at once: a new round
//! starts as soon as the previous one is prepared locally (appends arriving during that fsync
//! form the new round), and its Prepare goes out right behind the previous one, without
//! waiting for the replicas' answer. Both nodes write through a group-committing local log, so
//! one fsync usually covers several rounds (and the `Commit`s between them), and the primary's
//! fsync of one round overlaps the replica's fsync of the ones before it. A replica handles
//! messages as they arrive and sends each answer, in order, once the records before it are
//! durable.
//!
//! Rounds commit strictly in version order. The oldest round commits once its records are
//! durable here and every required replica answered *its* Prepare (a round's `Prepared` never
//! counts for another round, whatever versions it names); one `Commit` covers every round ready
//! at that moment, and acknowledgments go out in that order. When a round fails (a `Strict`
//! timeout, a newer primary, a failed write), every round after it fails with it and is rolled
//! back (one `Rollback` from the failed round's first version): nothing after a gap is ever
//! acknowledged, and the failed versions are reused. [`Status::rounds`] counts rounds, their
//! size, commits and overlap.
//!
//! Ordering between operations is the engine's: it validates ops on disjoint resources
//! together and hands them over in appends that may all be in flight at once, and holds an op
//! that overlaps one in flight until that one is applied. The log only keeps version order.
//!
//! # Why a crash is safe with several rounds open
//! Say rounds N..N+k are in flight when a node dies.
//! The rule: an op is acknowledged once it is durably prepared on the primary and on every
//! replica the policy waits for, and the primary committed it in memory (its `Commit` record
//! maybe not yet written, or not yet durable). Every path that reopens a log then keeps it:
//! - **Primary, before round N's local commit.** Nothing of N.. was acknowledged. On restart
//!   the primary replicates and commits its durable prepared tail (N.. as far as the disk got)
//!   again before any new round, so whatever a replica committed of it stays. If a replica is
//!   promoted instead, it commits all it holds; the old primary, back as a replica, rolls back
//!   its entries past the new commit point.
//! - **Primary, after acknowledging round N, before N's `Commit` record is durable.** N is
//!   durably prepared here and on every required replica, and no `Rollback` covers it (a
//!   rollback starts past the commit point, and its record is fsynced, with every record before
//!   it and the unwritten `Commit` record in front of it, before any version is reused). The
//!   ways back:
//!   1. *Restart as primary*: the log reopens with N prepared, not committed: `committed()` and
//!      reads show less than was acknowledged until the recovery round recommitted the tail,
//!      which it does before taking any new write (a restarted primary serves new writes only
//!      after that). Its `Sync` announces the tail's end as its commit point meanwhile, so a
//!      replica never rolls N back: a second crash then a promotion still finds N there.
//!   2. *Promotion of a replica*: it commits everything it holds, N included.
//!   3. *Restart as a replica* (after a promotion): the new primary committed N (2.), so its
//!      `Sync` keeps N here and checks it against its copy.
//!   4. *Offline readers* of a killed primary's directory see N only prepared; reopening it as
//!      a primary (even with no replicas) recommits it first (`rig-2pc-node recovered` does
//!      that in the process tests).
//! - **Primary, after N's `Commit` record is durable.** A restart keeps N committed; a
//!   promoted replica commits it.
//! - **Snapshots.** [`Log::save_snapshot`](rig_core::Log::save_snapshot) first makes a
//!   `Commit` record through the snapshot's version durable, so a saved snapshot is never
//!   ahead of the durable commit point.
//! - **`Strict` and `SemiSync`.** Under `Strict` an ack needs every replica's durable prepare,
//!   so both copies exist and every path above applies. Under `SemiSync` with a lagging replica
//!   the primary's durable prepare is the only copy: a restart as primary recommits it (its
//!   recovery commits alone after the timeout), and promoting that lagging replica loses it, as
//!   it already lost ops committed alone (see Failover).
//! - **Replica, with rounds prepared but unanswered (or answered) past the commit point.**
//!   On `Sync` it keeps every entry at or below the primary's commit point and rolls back only
//!   entries past both commit points, which no primary acknowledged; the primary offers its
//!   rounds in flight again, in order, after the sync. A replica commits only through what it
//!   matched against its primary in this session and what the primary's `Commit` names, i.e.
//!   only what the primary committed, never a prepared entry ahead of it.
//! - **A failure in the middle of the window.** Answers are per round, commits in order: a
//!   round after a failed one is never committed, and the `Rollback` that fails them all is
//!   durable on the primary before any waiter hears of it.
//!
//! # Failover (manual)
//! 1. Make sure the old primary is down or cut off (under `Strict` it cannot commit without
//!    its replica anyway). Check [`ReplLog::status`] on the replicas: promote one that was in
//!    sync (under `SemiSync`, not one that was lagging, see below).
//! 2. Call [`ReplLog::promote`] on that replica with the addresses of the nodes that will be its
//!    replicas. It bumps the epoch, commits everything it holds (a prepared entry may have
//!    been acknowledged), and starts taking writes.
//! 3. Point clients at the new primary (replicas answer writes with `NotLeader` naming it once
//!    it synced them).
//! 4. Restart the old primary as a replica ([`StartAs::Replica`]), at an address the new
//!    primary was given. The new primary syncs it: its prepared entries past the new primary's
//!    commit point are rolled back, the rest is checked against the new primary's log, and it
//!    catches up (from a snapshot if the new primary compacted).
//! 5. Other replicas are restarted (or simply listed) as the new primary's replicas: a
//!    replica follows whichever primary of the newest epoch syncs it.
//!
//! An old primary that comes back *as a primary* is fenced: replicas of the new epoch answer its
//! prepares with `Fenced`, and it fails its waiters with [`rig_core::Error::Fenced`] and refuses
//! writes from then on. Under `SemiSync`, ops a primary committed alone while its replica lagged
//! are lost if that replica is promoted; the old primary then refuses to follow (its commit
//! point is ahead of the new primary's) and must be wiped before it rejoins.
//!
//! # Limits
//! - Links are authenticated, not encrypted (no TLS).
//! - At most [`Config::max_rounds_in_flight`] rounds are in flight, and a new one starts only
//!   once the newest is prepared locally; appends beyond wait and form larger rounds.
//! - An acknowledgment waits for the local prepare fsync and the replicas' answer (their
//!   prepare fsync and a round trip, overlapping the local one), not for the `Commit` record,
//!   which rides the next round's prepare write: one fsync plus a network round trip on the
//!   critical path, and about one fsync per round on each node, where a single-node log needs
//!   one fsync. The price: after a crash, a primary's log shows some acknowledged ops only
//!   prepared until it runs again as primary and recommits them (see above).
//!   With closed-loop clients (each waiting for its op) a pair reached 0.59-0.72x (median
//!   0.67; 172-189k ops/s, p50 300-350 us) the single-node file log's ops/s in the same run
//!   at 64 clients on a 2-core machine shared with other work (load about 2; `rig-bench 2pc`,
//!   3 runs), where the build before (a `Commit` message, record and often fsync of its own
//!   per round, a local entry and several copies per op) reached 0.41x (117k ops/s, p50
//!   518 us) in a run beside them; in the 2pc phase it spends about 8 us of CPU per op, that
//!   build 13. Most of what is left is the engine's own work per op (as in the baseline), the
//!   second node's write and fsync per round, and the thread wake-ups of the replica's round
//!   trip.
//! - A promoted replica commits every entry it holds, including one it had not yet checked
//!   against the old primary after a resync; promote a replica that was in sync.
//! - A replica assembles a shipped snapshot in memory (up to 16 GiB).
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod config;
mod crash;
#[cfg(test)]
mod crash_tests;
mod node;
#[cfg(test)]
mod pipeline_tests;
mod primary;
mod proto;
mod record_codec;
mod repl_log;
mod replica;
mod round;
mod ship;
mod state;
mod store;
#[cfg(test)]
mod wire_tests;

pub use config::{Config, Mode, Policy, ReplicaStatus, RoundStats, StartAs, Status};
pub use repl_log::ReplLog;
