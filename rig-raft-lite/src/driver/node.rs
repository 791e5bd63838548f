//! One node's critical section: the core, its storage and the driver's bookkeeping. Every input
//! goes through [`Node::step`], which carries out the core's outputs in order (hard state and
//! entries are written before any message that follows them is handed to the network).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use rig_core::{Durability, Error, Result};
use tokio::sync::oneshot;

use super::mirror::{version_of, Mirror};
use crate::core::{
    is_control, CommitMode, Input, Membership, Message, NodeId, Output, Raft, SnapshotImage,
};
use crate::storage::encode_snapshot_image;
use crate::storage::Storage;

/// An append waiting for its durability.
#[derive(Debug)]
struct Waiter {
    last_index: u64,
    term: u64,
    first_version: u64,
    durability: Durability,
    tx: oneshot::Sender<Result<u64>>,
}

/// An append held back while every follower's pipeline is full (see [`Node::flush`]).
#[derive(Debug)]
struct Queued {
    count: u64,
    first_version: u64,
    durability: Durability,
    tx: oneshot::Sender<Result<u64>>,
}

/// The driver's state for one node.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) raft: Raft,
    /// `None` once closed (the files and their lock are released).
    storage: Option<Box<dyn Storage>>,
    pub(crate) mirror: Mirror,
    waiters: VecDeque<Waiter>,
    reads: BTreeMap<u64, oneshot::Sender<Result<u64>>>,
    next_read: u64,
    pub(crate) failed: Option<Error>,
    pub(crate) outbox: Vec<(NodeId, Message)>,
    proposed: Option<(u64, u64, u64)>,
    /// Payloads of held-back appends, proposed to the core as one batch once a follower's
    /// pipeline has room (adaptive batching: one entry batch, one local write and one commit
    /// computation for many concurrent appends; none of them waits when the pipeline is idle).
    queued: Vec<Bytes>,
    queued_waiters: Vec<Queued>,
    /// The core's applied index before the current step (its outputs are carried out after the
    /// step, when the core may already have applied the entries it asked to persist).
    applied_before_step: u64,
    unsynced: bool,
    /// A control entry was written: sync before anything is sent, in both modes.
    sync_now: bool,
    /// The engine version of the node's snapshot (a save never replaces it with an older one).
    snapshot_version: Option<u64>,
    /// Strict mode, within [`Node::step_messages`]: sync once after the batch.
    defer_sync: bool,
    /// The membership the network should reach (taken by the driver after each step).
    pub(crate) members_update: Option<Membership>,
    /// Why the last membership change was refused.
    pub(crate) membership_rejected: Option<String>,
    pub(crate) names: BTreeMap<NodeId, String>,
}

impl Node {
    /// A node on `storage`, whose core was restored with the log compacted at `base_version`.
    pub(crate) fn new(
        raft: Raft,
        storage: Box<dyn Storage>,
        base_version: u64,
        names: BTreeMap<NodeId, String>,
    ) -> Result<Self> {
        // Started from a snapshot beyond the compaction point: the entries it covers are
        // committed, still readable, and mirrored here since the core will not apply them again.
        let mut mirror = Mirror::new(base_version, raft.compacted());
        let covered = raft
            .log()
            .slice(raft.compacted() + 1, raft.applied(), usize::MAX);
        mirror.ingest(covered)?;
        let snapshot_version = storage.load_snapshot()?.map(|s| s.version);
        Ok(Self {
            mirror,
            raft,
            storage: Some(storage),
            waiters: VecDeque::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            failed: None,
            outbox: Vec::new(),
            proposed: None,
            queued: Vec::new(),
            queued_waiters: Vec::new(),
            applied_before_step: 0,
            unsynced: false,
            sync_now: false,
            snapshot_version,
            defer_sync: false,
            members_update: None,
            membership_rejected: None,
            names,
        })
    }

    /// The error every call fails with once the node stopped (closed or poisoned).
    pub(crate) fn check(&self) -> Result<()> {
        self.failed.clone().map_or(Ok(()), Err)
    }

    pub(crate) fn leader_name(&self) -> Option<String> {
        self.raft.leader().map(|id| {
            self.names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        })
    }

    /// Feeds one input and carries out everything it caused.
    pub(crate) fn step(&mut self, input: Input) {
        if self.failed.is_some() {
            return;
        }
        let tick = matches!(input, Input::Tick);
        self.applied_before_step = self.raft.applied();
        self.raft.step(input);
        if let Err(e) = self.drain() {
            self.stop(Error::Poisoned {
                cause: e.to_string(),
            });
        }
        self.flush(tick);
        self.resolve();
    }

    /// Proposes the held-back appends when a follower can take them (or on `force`, each tick,
    /// so a leader whose followers are all slow still persists them); fails them with
    /// `NotLeader` (they never reached the log) once this node no longer leads.
    fn flush(&mut self, force: bool) {
        if self.queued.is_empty() || self.failed.is_some() {
            return;
        }
        if !self.raft.is_leader() {
            let leader = self.leader_name();
            self.queued.clear();
            for q in self.queued_waiters.drain(..) {
                let leader = leader.clone();
                let _ = q.tx.send(Err(Error::NotLeader { leader }));
            }
            return;
        }
        if !force && !self.raft.can_send_append() {
            return;
        }
        self.proposed = None;
        self.applied_before_step = self.raft.applied();
        self.raft
            .step(Input::Propose(std::mem::take(&mut self.queued)));
        if let Err(e) = self.drain() {
            self.stop(Error::Poisoned {
                cause: e.to_string(),
            });
        }
        let batch = std::mem::take(&mut self.queued_waiters);
        let Some((first, _, term)) = self.proposed.take() else {
            let leader = self.leader_name();
            for q in batch {
                let leader = leader.clone();
                let _ = q.tx.send(Err(Error::NotLeader { leader }));
            }
            return;
        };
        let mut next = first;
        for q in batch {
            next += q.count;
            self.waiters.push_back(Waiter {
                last_index: next - 1,
                term,
                first_version: q.first_version,
                durability: q.durability,
                tx: q.tx,
            });
        }
    }

    fn disk(&mut self) -> Result<&mut Box<dyn Storage>> {
        self.storage.as_mut().ok_or(Error::Closed)
    }

    /// Closes the node and releases its storage.
    pub(crate) fn close(&mut self) {
        self.stop(Error::Closed);
        self.storage = None;
    }

    /// Volatile mode's background sync (Strict mode syncs in every step).
    pub(crate) fn background_sync(&mut self) {
        if self.unsynced {
            self.step_sync();
        }
    }

    fn step_sync(&mut self) {
        match self.disk().and_then(|d| d.sync()) {
            Ok(Some((index, term))) => {
                self.unsynced = false;
                self.step(Input::Persisted { index, term });
            }
            Ok(None) => self.unsynced = false,
            Err(e) => self.stop(Error::Poisoned {
                cause: e.to_string(),
            }),
        }
    }

    fn drain(&mut self) -> Result<()> {
        loop {
            let outs = self.raft.take_outputs();
            if outs.is_empty() {
                break;
            }
            for out in outs {
                self.carry_out(out)?;
            }
            let strict = self.raft.config().commit_mode == CommitMode::Strict;
            if self.unsynced && ((strict && !self.defer_sync) || self.sync_now) {
                if let Some((index, term)) = self.disk()?.sync()? {
                    self.raft.step(Input::Persisted { index, term });
                }
                self.unsynced = false;
                self.sync_now = false;
            }
        }
        Ok(())
    }

    fn carry_out(&mut self, out: Output) -> Result<()> {
        match out {
            Output::Send(to, msg) => self.outbox.push((to, msg)),
            Output::PersistHardState(hs) => self.disk()?.save_hard_state(hs)?,
            Output::PersistEntries(entries, frames) => {
                let first = entries.first().map_or(u64::MAX, |e| e.index);
                if first <= self.applied_before_step {
                    // Only possible in Volatile mode after a majority lost power at once: the
                    // group lost entries this node already applied. Its state cannot be rolled
                    // back; stop rather than serve a history the group no longer has (a restart
                    // reloads the log and follows the leader again).
                    return Err(Error::Corrupt {
                        location: format!("raft entry {first}"),
                        reason: "the leader replaced an applied entry (committed entries were \
                                 lost: a majority lost power in Volatile mode)"
                            .into(),
                    });
                }
                self.sync_now |= entries.iter().any(|e| is_control(&e.data));
                self.disk()?.write_frames_owned(entries, frames)?;
                self.unsynced = true;
            }
            Output::MembershipChanged(stored) => {
                self.disk()?.save_membership(&stored)?;
                self.members_update = Some(stored.current);
            }
            Output::MembershipRejected { reason, .. } => self.membership_rejected = Some(reason),
            Output::Apply(entries) => self.mirror.ingest(entries)?,
            Output::Compacted(through) => {
                let base = self.mirror.compact_to_index(through);
                self.disk()?.compact(through, base)?;
            }
            Output::StageSnapshot { offset, data, .. } => {
                self.disk()?.stage_snapshot(offset, &data)?;
            }
            Output::InstallSnapshot { index, total, .. } => self.install_snapshot(index, total)?,
            Output::Proposed { first, last, term } => self.proposed = Some((first, last, term)),
            Output::ReadReady { id, index } => {
                if let Some(tx) = self.reads.remove(&id) {
                    let _ = tx.send(Ok(self.mirror.version_at(index)));
                }
            }
            Output::ReadFailed { id, .. } => {
                let leader = self.leader_name();
                if let Some(tx) = self.reads.remove(&id) {
                    let _ = tx.send(Err(Error::NotLeader { leader }));
                }
            }
            Output::Watermarks { .. }
            | Output::LeaderChanged { .. }
            | Output::ProposalRejected { .. } => {}
        }
        Ok(())
    }

    /// The version the next proposal starts at: after the last data entry in the leader's log.
    fn next_version(&self) -> Result<u64> {
        let log = self.raft.log();
        if let Some(q) = self.queued_waiters.last() {
            return Ok(q.first_version + q.count);
        }
        let data = |e: &&crate::core::Entry| !e.data.is_empty() && !is_control(&e.data);
        match log.entries().iter().rev().find(data) {
            Some(e) => version_of(e.index, &e.data).map(|v| v + 1),
            None => Ok(self.mirror.version_at(log.offset()) + 1),
        }
    }

    /// Proposes encoded payloads built by `encode(first_version)`; the receiver resolves with the
    /// first version once durable at `durability`.
    pub(crate) fn propose(
        &mut self,
        encode: impl FnOnce(u64) -> Vec<Bytes>,
        durability: Durability,
    ) -> Result<oneshot::Receiver<Result<u64>>> {
        self.check()?;
        if !self.raft.is_leader() {
            return Err(Error::NotLeader {
                leader: self.leader_name(),
            });
        }
        let first_version = self.next_version()?;
        let payloads = encode(first_version);
        let (tx, rx) = oneshot::channel();
        // Strict mode: every proposal costs an fsync here and on each follower, so appends are
        // always held back and proposed together by the node's task (group commit: those that
        // arrive while an fsync runs share the next one; see `propose_held_back`).
        let strict = self.raft.config().commit_mode == CommitMode::Strict;
        if strict || !self.queued.is_empty() || !self.raft.can_send_append() {
            self.queued_waiters.push(Queued {
                count: payloads.len() as u64,
                first_version,
                durability,
                tx,
            });
            self.queued.extend(payloads);
            return Ok(rx);
        }
        self.proposed = None;
        self.step(Input::Propose(payloads));
        self.check()?;
        let Some((_, last_index, term)) = self.proposed.take() else {
            return Err(Error::NotLeader {
                leader: self.leader_name(),
            });
        };
        self.waiters.push_back(Waiter {
            last_index,
            term,
            first_version,
            durability,
            tx,
        });
        self.resolve();
        Ok(rx)
    }

    /// Strict mode: steps every message of `batch` (a join goes to [`Node::on_join`]) with one
    /// fsync after the last instead of one each (the caller sends the outbox only afterwards).
    pub(crate) fn step_messages(&mut self, batch: Vec<(NodeId, Message)>) {
        self.defer_sync = true;
        for (from, msg) in batch {
            match msg {
                Message::Join { id, addr } => self.on_join(from, id, addr),
                msg => self.step(Input::Message(from, msg)),
            }
        }
        self.defer_sync = false;
        if self.unsynced && self.failed.is_none() {
            self.step_sync();
        }
    }

    /// Proposes the held-back appends if a follower's pipeline has room (Strict mode's group
    /// commit: the node's task calls this after appends were held back).
    pub(crate) fn propose_held_back(&mut self) {
        self.flush(false);
        self.resolve();
    }

    /// A receiver that resolves once the log is durable on a majority through `index` (an entry
    /// of the current term, just proposed by this leader).
    pub(crate) fn wait_replicated(&mut self, index: u64) -> oneshot::Receiver<Result<u64>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push_back(Waiter {
            last_index: index,
            term: self.raft.term(),
            first_version: index,
            durability: Durability::Replicated,
            tx,
        });
        self.resolve();
        rx
    }

    /// Starts a read-index round.
    pub(crate) fn read_index(&mut self) -> Result<oneshot::Receiver<Result<u64>>> {
        self.check()?;
        self.next_read += 1;
        let (tx, rx) = oneshot::channel();
        self.reads.insert(self.next_read, tx);
        self.step(Input::ReadIndex(self.next_read));
        Ok(rx)
    }

    /// Resolves, in order, the appends whose durability was reached; once leadership is lost
    /// (a new term, the entry overwritten, or a step-down in the same term, e.g. check-quorum on
    /// an isolated leader) every remaining append fails with `OutcomeUnknown`: its entries may
    /// still be committed by a later leader, but this node can no longer tell, and waiting for a
    /// higher term would hang the caller for as long as the node stays cut off.
    fn resolve(&mut self) {
        let raft = &self.raft;
        let (commit, durable, persisted, applied) = (
            raft.commit(),
            raft.durable(),
            raft.persisted(),
            raft.applied(),
        );
        while let Some(w) = self.waiters.front() {
            let ours = raft.log().term(w.last_index).is_none_or(|t| t == w.term);
            let reached = ours
                && applied >= w.last_index
                && match w.durability {
                    Durability::Applied => commit >= w.last_index,
                    Durability::Local => commit >= w.last_index && persisted >= w.last_index,
                    Durability::Replicated => durable >= w.last_index,
                };
            if !reached {
                break;
            }
            let w = self.waiters.pop_front().expect("front exists");
            let _ = w.tx.send(Ok(w.first_version));
        }
        let lost = |w: &Waiter| {
            !raft.is_leader()
                || raft.term() != w.term
                || raft.log().term(w.last_index).is_some_and(|t| t != w.term)
        };
        if self.waiters.front().is_some_and(lost) {
            for w in self.waiters.drain(..) {
                let reason = "leadership lost before the append was acknowledged".to_string();
                let _ = w.tx.send(Err(Error::OutcomeUnknown { reason }));
            }
        }
    }

    /// Stops the node: every pending call fails with `err`, and so does every later one.
    pub(crate) fn stop(&mut self, err: Error) {
        if self.failed.is_none() {
            self.failed = Some(err.clone());
        }
        let err = self.failed.clone().unwrap_or(err);
        for w in self.waiters.drain(..) {
            let _ = w.tx.send(Err(err.clone()));
        }
        self.queued.clear();
        for q in self.queued_waiters.drain(..) {
            let _ = q.tx.send(Err(err.clone()));
        }
        for (_, tx) in std::mem::take(&mut self.reads) {
            let _ = tx.send(Err(err.clone()));
        }
    }

    /// Member: verifies and installs the staged image, then tells the core. The engine sees
    /// the jump through `first_version` only once the snapshot is durable and loadable.
    fn install_snapshot(&mut self, index: u64, total: u64) -> Result<()> {
        let Some(installed) = self.disk()?.install_snapshot(total)? else {
            self.raft.step(Input::SnapshotRejected { index });
            return Ok(());
        };
        let (meta, version) = (&installed.image.meta, installed.snapshot.version);
        self.mirror = Mirror::new(version, meta.index);
        self.snapshot_version = Some(version);
        // The log was replaced: nothing written before is pending any more.
        self.unsynced = false;
        self.raft.step(Input::SnapshotInstalled(installed.image));
        Ok(())
    }

    /// Stores the engine's snapshot as the node's image and hands it to the core, which streams
    /// it to lagging members and compacts through it. A snapshot older than the node's is not
    /// stored (the newer one stays, as the contract allows).
    pub(crate) fn save_snapshot(&mut self, snapshot: &rig_core::Snapshot) -> Result<()> {
        self.check()?;
        if self.snapshot_version.is_some_and(|v| v >= snapshot.version) {
            return Ok(());
        }
        let invalid = |why: &str| {
            Error::InvalidArgument(format!("snapshot at version {}: {why}", snapshot.version))
        };
        if snapshot.version > self.mirror.committed() {
            return Err(invalid("beyond the committed version"));
        }
        let index = self
            .mirror
            .index_at_version(snapshot.version)
            .ok_or_else(|| invalid("below the compaction point"))?;
        let meta = self.raft.meta_for(index).ok_or_else(|| {
            invalid(
                "the membership at its log entry is no longer known (changed since the restart)",
            )
        })?;
        let image = SnapshotImage {
            bytes: encode_snapshot_image(&meta, snapshot),
            meta,
        };
        self.disk()?.save_snapshot(&image)?;
        self.snapshot_version = Some(snapshot.version);
        self.step(Input::SnapshotSaved(image));
        self.check()
    }

    pub(crate) fn load_snapshot(&self) -> Result<Option<rig_core::Snapshot>> {
        self.storage.as_ref().ok_or(Error::Closed)?.load_snapshot()
    }
}
