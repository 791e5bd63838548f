//! The primary's driver: one task that runs the rounds (prepare locally, prepare on the replicas,
//! commit locally, commit on the replicas, acknowledge) and catches lagging replicas up.
//!
//! The Prepare goes to the replicas before the local prepare fsync, so the two overlap.
//! Every `append` queued while a round runs joins the next round, so one round (two local
//! fsyncs, one replica fsync, one round trip) covers many operations.

use std::sync::Arc;

use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
use rig_core::{AppendFuture, Error, Result};
use tokio::sync::mpsc;

use crate::config::{Policy, ReplicaStatus};
use crate::crash::Stage;
use crate::node::{fenced, Batch, Node, RoleState};
use crate::proto::{Msg, MAX_ENTRIES};
use crate::ship::ship_snapshot;
use crate::state::Record;

/// The most operations one round carries.
const MAX_ROUND_OPS: usize = 4096;

#[derive(Debug)]
struct Replica {
    addr: String,
    peer: Peer,
    connected: bool,
    last: Option<u64>,
    lagging: bool,
    /// The task sending it a snapshot on its current link, if any.
    shipping: Option<tokio::task::AbortHandle>,
}

/// How waiting for the replicas ended.
enum Wait {
    Done,
    Fenced(Error),
    TimedOut(Vec<usize>),
}

/// The round in flight, as replica events see it.
struct Round {
    /// This round's id: only a `Prepared` echoing it acknowledges the round.
    id: u64,
    first: u64,
    last: u64,
    prepare: bytes::Bytes,
    /// Whether the Prepare went out on the replica's current link.
    sent: Vec<bool>,
    /// Whether the Prepare ever went out to the replica (it may hold it durably).
    reached: Vec<bool>,
    acked: Vec<bool>,
}

pub(crate) struct Driver {
    node: Arc<Node>,
    replicas: Vec<Replica>,
    events: mpsc::Receiver<(usize, PeerEvent)>,
    batches: mpsc::UnboundedReceiver<Batch>,
    fenced_by: Option<u64>,
    /// The last round id used (ids are never reused by a driver; replies reach only the driver
    /// whose links carried the Prepare).
    rounds: u64,
}

impl Driver {
    /// Starts the links to `addrs` and returns the driver to run.
    pub(crate) fn new(
        node: Arc<Node>,
        addrs: &[String],
        batches: mpsc::UnboundedReceiver<Batch>,
    ) -> Self {
        let (etx, events) = mpsc::channel(4096);
        let cfg = &node.config;
        let replicas = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let (peer, mut rx) = Peer::spawn(
                    Arc::clone(&cfg.transport),
                    addr.clone(),
                    cfg.handshake.clone(),
                    Arc::clone(&cfg.clock),
                    Arc::clone(&cfg.rand),
                    PeerOptions::default(),
                );
                let etx = etx.clone();
                node.spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        if etx.send((i, ev)).await.is_err() {
                            return;
                        }
                    }
                });
                Replica {
                    addr: addr.clone(),
                    peer,
                    connected: false,
                    last: None,
                    lagging: false,
                    shipping: None,
                }
            })
            .collect();
        let d = Self {
            node,
            replicas,
            events,
            batches,
            fenced_by: None,
            rounds: 0,
        };
        d.publish();
        d
    }

    fn epoch(&self) -> u64 {
        self.node.store.state().epoch()
    }

    /// A new round: its Prepare (`ops` as versions `first..`), not yet sent anywhere.
    fn new_round(&mut self, first: u64, ops: Vec<rig_core::Operation>, committed: u64) -> Round {
        self.rounds += 1;
        let n = self.replicas.len();
        let last = first + ops.len() as u64 - 1;
        let prepare = Msg::Prepare {
            epoch: self.epoch(),
            round: self.rounds,
            first,
            ops,
            committed,
        }
        .encode();
        Round {
            id: self.rounds,
            first,
            last,
            prepare,
            sent: vec![false; n],
            reached: vec![false; n],
            acked: vec![false; n],
        }
    }

    pub(crate) async fn run(mut self) {
        if let Err(e) = self.recover().await {
            tracing::warn!(error = %e, "primary stopped during start-up recovery");
            self.node.stop(e.clone());
            self.fail_queued(e);
            return;
        }
        self.publish();
        loop {
            tokio::select! {
                biased;
                Some((i, ev)) = self.events.recv() => self.on_event(i, ev, None),
                batch = self.batches.recv() => {
                    let Some(batch) = batch else { return };
                    let mut round = vec![batch];
                    let mut n = round[0].ops.len();
                    while n < MAX_ROUND_OPS {
                        let Ok(b) = self.batches.try_recv() else { break };
                        n += b.ops.len();
                        round.push(b);
                    }
                    if let Err(e) = self.round(round).await {
                        self.fail_queued(e);
                    }
                }
            }
            if let Some(epoch) = self.fenced_by {
                tracing::warn!(epoch, "this primary was fenced by a newer one");
                self.node.stop(fenced(epoch));
                self.fail_queued(fenced(epoch));
                return;
            }
            self.publish();
        }
    }

    /// One round. On error, the round's batches were failed already and the caller fails every
    /// batch queued behind it.
    async fn round(&mut self, batches: Vec<Batch>) -> Result<(), Error> {
        let first = batches[0].first;
        let ops: Vec<_> = batches.iter().flat_map(|b| b.ops.iter().cloned()).collect();
        let last = first + ops.len() as u64 - 1;
        let committed = self.node.store.committed().get();
        // 2. (sent first, so the replicas' fsync overlaps ours) Prepare on the replicas that
        // hold everything before `first`. A replica holding a prepared entry its primary lost
        // is harmless: the next Sync rolls it back.
        let records = ops
            .iter()
            .enumerate()
            .map(|(i, op)| Record::Prepare {
                version: first + i as u64,
                op: op.clone(),
            })
            .collect();
        let mut round = self.new_round(first, ops, committed);
        let n = self.replicas.len();
        for i in 0..n {
            self.offer(i, &mut round);
        }
        // 1. Prepare locally.
        self.node.crash.reach(Stage::PrepareLocal).await;
        if let Err(e) = self.node.store.persist(records).await {
            return Err(self.fatal(batches, e));
        }
        self.node.crash.reach(Stage::PrepareReplica).await;
        let timeout = self.node.config.policy.timeout();
        match self.await_replicas(&mut round).await {
            Wait::Done => {}
            Wait::Fenced(e) => {
                self.node.stop(e.clone()); // refuse writes before any waiter hears
                return Err(self.rollback(batches, &round, e).await);
            }
            Wait::TimedOut(silent) => match self.node.config.policy {
                Policy::Strict { .. } => {
                    let who = silent.iter().map(|&i| self.replicas[i].addr.as_str());
                    let who = who.collect::<Vec<_>>().join(", ");
                    let reason = format!(
                        "replica {who} did not prepare versions {first}..={last} within {timeout:?}"
                    );
                    // A replica that got the Prepare may hold it durably: if it were promoted
                    // now, it would commit it. Only a round no replica saw surely failed.
                    let e = if silent.iter().any(|&i| round.reached[i]) {
                        Error::OutcomeUnknown { reason }
                    } else {
                        Error::Unavailable { reason }
                    };
                    return Err(self.rollback(batches, &round, e).await);
                }
                Policy::SemiSync { .. } => self.mark_lagging(&silent),
            },
        }
        // 3. and 4. Commit locally and on the replicas: no turning back from here.
        self.node.crash.reach(Stage::CommitLocal).await;
        let synced = match self.commit(last).await {
            Ok(synced) => synced,
            Err(e) => return Err(self.fatal(batches, e)),
        };
        // 5. Acknowledge, once the local Commit record is durable: an acknowledged op is
        // committed in the primary's own log, whatever reopens it next (a restart as a replica,
        // a reader, a primary whose recovery round is still waiting). The wait runs beside the
        // next round, whose prepare fsync usually carries the record.
        let node = Arc::clone(&self.node);
        // Tracked so that `halt` stops it too (its waiters then hear `OutcomeUnknown`).
        self.node.spawn(async move {
            match synced.await {
                Ok(_) => {
                    node.crash.reach(Stage::Acknowledge).await;
                    for b in batches {
                        let _ = b.done.send(Ok(b.first));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "primary failed to persist a commit; stopping");
                    node.stop(e.clone());
                    for b in batches {
                        let _ = b.done.send(Err(e.clone()));
                    }
                }
            }
        });
        Ok(())
    }

    /// Waits until every required replica acknowledged the round, the timeout passes, or a
    /// newer primary shows up.
    async fn await_replicas(&mut self, round: &mut Round) -> Wait {
        let n = self.replicas.len();
        let clock = Arc::clone(&self.node.config.clock);
        let sleep = clock.sleep(self.node.config.policy.timeout());
        tokio::pin!(sleep);
        loop {
            if let Some(epoch) = self.fenced_by {
                return Wait::Fenced(fenced(epoch));
            }
            let silent: Vec<usize> = (0..n)
                .filter(|&i| self.required(i) && !round.acked[i])
                .collect();
            if silent.is_empty() {
                return Wait::Done;
            }
            tokio::select! {
                biased;
                Some((i, ev)) = self.events.recv() => self.on_event(i, ev, Some(round)),
                _ = &mut sleep => return Wait::TimedOut(silent),
            }
        }
    }

    fn mark_lagging(&mut self, silent: &[usize]) {
        for &i in silent {
            tracing::warn!(replica = %self.replicas[i].addr, "replica lagging; continuing alone");
            self.replicas[i].lagging = true;
        }
    }

    /// Commits through `last` locally and tells the replicas; returns the future of the local
    /// `Commit` record's durability.
    ///
    /// The driver does not wait for the record (it rides the next fsync, usually the next
    /// round's prepare), but nothing it covers is acknowledged before it is durable
    /// ([`Driver::round`]): a primary killed before that fsync would reopen with those entries
    /// only prepared, and only a completed recovery round commits them again.
    async fn commit(&mut self, last: u64) -> Result<AppendFuture, Error> {
        let synced = self
            .node
            .store
            .persist_lazily(vec![Record::Commit { through: last }])
            .await?;
        self.node.crash.reach(Stage::CommitReplica).await;
        let commit = Msg::Commit {
            epoch: self.epoch(),
            through: last,
        }
        .encode();
        for r in &self.replicas {
            if r.connected {
                r.peer.try_send(commit.clone());
            }
        }
        Ok(synced)
    }

    /// At start-up: the prepared tail a previous run left is replicated again and committed
    /// before any new round. None of it was acknowledged by this node (an ack waits for the
    /// durable Commit record), but a replica may have committed it already. `Strict` waits for the replicas as
    /// long as it takes; `SemiSync` gives up on them after its timeout.
    async fn recover(&mut self) -> Result<(), Error> {
        let (first, last, ops, committed) = {
            let s = self.node.store.state();
            let (c, l) = (s.committed(), s.last());
            (c + 1, l, s.range(c + 1, l), c)
        };
        if ops.is_empty() {
            return Ok(());
        }
        tracing::info!(
            first,
            last,
            "recommitting the prepared tail of the previous run"
        );
        let mut round = self.new_round(first, ops, committed);
        let n = self.replicas.len();
        loop {
            for i in 0..n {
                self.offer(i, &mut round);
            }
            match self.await_replicas(&mut round).await {
                Wait::Done => break,
                Wait::Fenced(e) => return Err(e),
                Wait::TimedOut(silent) => match self.node.config.policy {
                    Policy::Strict { .. } => {
                        tracing::warn!("waiting for the replicas to recommit the prepared tail");
                        // Writes queued meanwhile fail rather than hang: nothing of theirs was
                        // written.
                        self.fail_queued(Error::Unavailable {
                            reason: format!(
                                "recommitting versions {first}..={last}: a replica does not answer"
                            ),
                        });
                    }
                    Policy::SemiSync { .. } => {
                        self.mark_lagging(&silent);
                        break;
                    }
                },
            }
        }
        let synced = self.commit(last).await?;
        let node = Arc::clone(&self.node);
        // Nobody waits for this one; tracked so that `halt` stops it too.
        self.node.spawn(async move {
            if let Err(e) = synced.await {
                node.stop(e);
            }
        });
        Ok(())
    }

    /// Whether the round waits for replica `i`.
    fn required(&self, i: usize) -> bool {
        match self.node.config.policy {
            Policy::Strict { .. } => true,
            Policy::SemiSync { .. } => !self.replicas[i].lagging,
        }
    }

    /// Sends the round's Prepare to replica `i` once it holds everything before the round. (A
    /// replica may hold more: entries of a recommitted tail it committed before this primary
    /// restarted; the Prepare covers them.)
    fn offer(&mut self, i: usize, round: &mut Round) {
        let r = &mut self.replicas[i];
        let ready = matches!(r.last, Some(l) if l + 1 >= round.first && l <= round.last);
        if !round.sent[i] && r.connected && ready {
            round.sent[i] = r.peer.try_send(round.prepare.clone());
            round.reached[i] |= round.sent[i];
            if round.sent[i] && r.lagging {
                tracing::info!(replica = %r.addr, "replica caught up; back in sync");
                r.lagging = false;
            }
        }
    }

    /// Rolls the round back everywhere and fails its batches with `e`.
    async fn rollback(&mut self, batches: Vec<Batch>, round: &Round, e: Error) -> Error {
        if let Err(fatal) = self
            .node
            .store
            .persist(vec![Record::Rollback { from: round.first }])
            .await
        {
            return self.fatal(batches, fatal);
        }
        let msg = Msg::Rollback {
            epoch: self.epoch(),
            round: round.id,
            from: round.first,
        }
        .encode();
        for r in &mut self.replicas {
            if r.connected && r.peer.try_send(msg.clone()) {
                // The replica truncates before it reads anything we send next.
                r.last = r.last.map(|l| l.min(round.first - 1));
            }
        }
        for b in batches {
            let _ = b.done.send(Err(e.clone()));
        }
        e
    }

    /// A local write failed: the node stops (a failed fsync is never retried).
    fn fatal(&mut self, batches: Vec<Batch>, e: Error) -> Error {
        tracing::error!(error = %e, "primary failed to persist; stopping");
        self.node.stop(e.clone());
        for b in batches {
            let _ = b.done.send(Err(e.clone()));
        }
        e
    }

    /// Fails every batch queued behind a failed round and rewinds version assignment, so the
    /// log stays gap-free.
    fn fail_queued(&mut self, e: Error) {
        let mut role = self.node.role();
        while let Ok(b) = self.batches.try_recv() {
            let _ = b.done.send(Err(e.clone()));
        }
        if let RoleState::Primary { next, .. } = &mut *role {
            *next = self.node.store.state().last() + 1;
        }
    }

    fn on_event(&mut self, i: usize, ev: PeerEvent, round: Option<&mut Round>) {
        let epoch = self.epoch();
        let r = &mut self.replicas[i];
        match ev {
            PeerEvent::Connected { node_id } => {
                tracing::info!(replica = %r.addr, %node_id, "replica link up");
                r.connected = true;
                r.last = None;
                if let Some(t) = r.shipping.take() {
                    t.abort(); // its chunks went to the old link
                }
                let (committed, last) = {
                    let s = self.node.store.state();
                    (s.committed(), s.last())
                };
                r.peer.try_send(
                    Msg::Sync {
                        epoch,
                        primary: self.node.advertise.clone(),
                        committed,
                        last,
                    }
                    .encode(),
                );
            }
            PeerEvent::Disconnected { reason } => {
                if r.connected {
                    tracing::warn!(replica = %r.addr, error = %reason, "replica link down");
                }
                r.connected = false;
                r.last = None;
                if let Some(round) = round {
                    // A reconnected replica is synced, then offered the round again.
                    round.sent[i] = false;
                }
            }
            PeerEvent::Frame(frame) => match Msg::decode(&frame) {
                Err(e) => {
                    tracing::warn!(replica = %r.addr, error = %e, "malformed message ignored")
                }
                Ok(msg) if msg.epoch() > epoch => self.fenced_by = Some(msg.epoch()),
                Ok(Msg::Prepared {
                    round: id, last, ..
                }) => {
                    r.last = Some(last);
                    if let Some(round) = round {
                        // A late answer to an earlier round (timed out and rolled back, its
                        // versions reused since) says nothing about this one.
                        if id == round.id && last >= round.last && round.sent[i] {
                            round.acked[i] = true;
                        }
                        self.offer(i, round);
                    } else if r.lagging && last == self.node.store.state().last() {
                        tracing::info!(replica = %r.addr, "replica caught up; back in sync");
                        r.lagging = false;
                    }
                }
                Ok(Msg::Fetch { from, .. }) => {
                    r.last = Some(from.saturating_sub(1));
                    if let Some(round) = round {
                        // It did not take the round's Prepare (it misses something before):
                        // offer it again once it caught up.
                        round.sent[i] = false;
                    }
                    if from <= self.node.store.state().base() {
                        if r.shipping.as_ref().is_none_or(|t| t.is_finished()) {
                            let task = ship_snapshot(Arc::clone(&self.node), r.peer.clone(), epoch);
                            r.shipping = Some(self.node.spawn(task));
                        }
                        return;
                    }
                    let (ops, committed) = {
                        let s = self.node.store.state();
                        let upto = s
                            .committed()
                            .min(from.saturating_add(MAX_ENTRIES as u64 - 1));
                        (s.range(from, upto), s.committed())
                    };
                    r.peer.try_send(
                        Msg::Entries {
                            epoch,
                            from,
                            ops,
                            committed,
                        }
                        .encode(),
                    );
                }
                Ok(Msg::Fenced { .. }) => {} // same epoch: nothing to learn
                Ok(other) => {
                    tracing::warn!(replica = %r.addr, ?other, "unexpected message ignored")
                }
            },
        }
    }

    /// Publishes the replicas' state for `status()`.
    fn publish(&self) {
        let committed = self.node.store.committed().get();
        let view = self
            .replicas
            .iter()
            .map(|r| ReplicaStatus {
                addr: r.addr.clone(),
                connected: r.connected,
                last: r.last,
                lag: committed.saturating_sub(r.last.unwrap_or(0).min(committed)),
                lagging: r.lagging,
            })
            .collect();
        *self.node.replicas.lock().expect("2pc status lock") = view;
    }
}
