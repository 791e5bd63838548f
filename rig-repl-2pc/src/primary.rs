//! The primary's driver: one task that runs the rounds (prepare locally, prepare on the replicas,
//! commit locally, commit on the replicas, acknowledge) and catches lagging replicas up.
//!
//! Rounds are pipelined: every `append` queued when the driver looks joins one new round, which
//! starts as soon as the newest round in flight is durable here, if fewer than
//! `max_rounds_in_flight` rounds are in flight. Its Prepare goes to the replicas before the local prepare fsync, so the two
//! overlap, and the local fsync of a round overlaps the replicas' fsync of the rounds before it
//! (the local log's group commit and the replica's merge whatever is queued). Rounds commit strictly in version order: the oldest
//! round commits once it is durable here and every required replica answered *its* Prepare, and
//! one `Commit` covers every round ready at that moment. A failed round (timeout under
//! `Strict`, a newer primary, a failed write) fails every round after it too: they are rolled
//! back together, so no acknowledged op ever sits after a gap.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use futures_util::FutureExt;
use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
use rig_core::{Error, Result};
use tokio::sync::mpsc;

use crate::config::{Policy, RoundStats};
use crate::crash::Stage;
use crate::node::{fenced, Batch, Node, RoleState};
use crate::proto::{encode_ops_section, prepare_frame, Msg};
use crate::record_codec::EncodedRun;
use crate::round::{watch_commit_records, CommitRecord, Round, MAX_ROUND_OPS};
use crate::state::Record;

#[path = "primary_links.rs"]
mod links;

#[derive(Debug)]
struct Replica {
    addr: String,
    peer: Peer,
    connected: bool,
    /// The last version the replica reported holding (matched with this primary's log).
    last: Option<u64>,
    /// The last version of the newest Prepare sent on the current link: the next round goes
    /// out right behind it, without waiting for the answers in between.
    sent_through: Option<u64>,
    lagging: bool,
    /// The highest commit point the replica was told on its current link (by a `Sync`, a
    /// `Commit`, or a `Prepare`, which carries the commit point of its time).
    told: u64,
    /// The task sending it a snapshot on its current link, if any.
    shipping: Option<tokio::task::AbortHandle>,
}

/// The local Prepare records of a round becoming durable: its id and the outcome.
type LocalPrepare = BoxFuture<'static, (u64, Result<u64>)>;

/// What the driver does after an event.
enum Next {
    Continue,
    /// The node stopped or was closed: the driver ends.
    Stop,
}

/// The next event of any replica link (never resolves while every link is closed).
async fn next_event(
    links: &mut [mpsc::Receiver<PeerEvent>],
    start: &mut usize,
) -> (usize, PeerEvent) {
    std::future::poll_fn(|cx| {
        let n = links.len();
        for k in 0..n {
            let i = (*start + k) % n;
            if let std::task::Poll::Ready(Some(ev)) = links[i].poll_recv(cx) {
                *start = (i + 1) % n;
                return std::task::Poll::Ready((i, ev));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

pub(crate) struct Driver {
    node: Arc<Node>,
    replicas: Vec<Replica>,
    /// Each replica link's events, polled by the driver itself (no task in between: one
    /// wake-up less on every answer's way).
    events: Vec<mpsc::Receiver<PeerEvent>>,
    /// Where the next poll of `events` starts, so that no link starves the others.
    next_link: usize,
    batches: mpsc::UnboundedReceiver<Batch>,
    fenced_by: Option<u64>,
    /// The last round id used (ids are never reused by a driver; replies reach only the driver
    /// whose links carried the Prepare).
    rounds: u64,
    /// The rounds in flight, oldest first (consecutive versions).
    window: VecDeque<Round>,
    /// The window's local prepares, in round order.
    local: FuturesOrdered<LocalPrepare>,
    /// The local `Commit` records' durability, to the task that watches it.
    commit_records: mpsc::UnboundedSender<CommitRecord>,
    /// The end of the durable prepared tail this primary opened with. It may hold acknowledged
    /// ops (an ack does not wait for the `Commit` record's fsync) and is committed again before
    /// any new round, so `Sync` announces it as the commit point: a replica keeps those entries
    /// instead of rolling them back while the recovery round is on its way.
    tail: u64,
    stats: RoundStats,
}

impl Driver {
    /// Starts the links to `addrs` and returns the driver to run.
    pub(crate) fn new(
        node: Arc<Node>,
        addrs: &[String],
        batches: mpsc::UnboundedReceiver<Batch>,
    ) -> Self {
        let cfg = &node.config;
        let mut events = Vec::new();
        let replicas = addrs
            .iter()
            .map(|addr| {
                let (peer, rx) = Peer::spawn(
                    Arc::clone(&cfg.transport),
                    addr.clone(),
                    cfg.handshake.clone(),
                    Arc::clone(&cfg.clock),
                    Arc::clone(&cfg.rand),
                    PeerOptions::default(),
                );
                events.push(rx);
                Replica {
                    addr: addr.clone(),
                    peer,
                    connected: false,
                    last: None,
                    sent_through: None,
                    lagging: false,
                    told: 0,
                    shipping: None,
                }
            })
            .collect();
        let (commit_records, records) = mpsc::unbounded_channel();
        // Tracked so that `halt` stops it too.
        node.spawn(watch_commit_records(Arc::clone(&node), records));
        let tail = node.store.state().last();
        let d = Self {
            node,
            replicas,
            events,
            next_link: 0,
            batches,
            fenced_by: None,
            rounds: 0,
            window: VecDeque::new(),
            local: FuturesOrdered::new(),
            commit_records,
            tail,
            stats: RoundStats::default(),
        };
        d.publish();
        d
    }

    fn epoch(&self) -> u64 {
        self.node.store.state().epoch()
    }

    /// A new round of versions `first..=last`, whose ops are encoded in `section`: its Prepare,
    /// not yet sent anywhere.
    fn new_round(&mut self, first: u64, last: u64, section: &[u8], batches: Vec<Batch>) -> Round {
        self.rounds += 1;
        let n = self.replicas.len();
        let committed = self.node.store.committed().get();
        let prepare = prepare_frame(self.epoch(), self.rounds, committed, section);
        Round {
            id: self.rounds,
            first,
            last,
            committed,
            prepare,
            sent: vec![false; n],
            reached: vec![false; n],
            acked: vec![false; n],
            local: false,
            started: self.node.config.clock.now(),
            batches,
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
            if let Next::Stop = self.step().await {
                return;
            }
            if let Some(epoch) = self.fenced_by {
                tracing::warn!(epoch, "this primary was fenced by a newer one");
                let e = fenced(epoch);
                self.node.stop(e.clone()); // refuse writes before any waiter hears
                self.rollback(|_| e.clone()).await;
                self.fail_queued(e);
                return;
            }
            if let Next::Stop = self.advance().await {
                return;
            }
            self.publish();
        }
    }

    /// Waits for one thing to happen: a replica event, a local prepare becoming durable, new
    /// appends (when the window has room), or the oldest round's timeout.
    async fn step(&mut self) -> Next {
        let clock = Arc::clone(&self.node.config.clock);
        let timeout = self.node.config.policy.timeout();
        // Only a round waiting for a replica times out (a slow local fsync is waited for).
        let deadline = self
            .window
            .front()
            .filter(|r| !self.silent(r).is_empty())
            .map(|r| r.started + timeout);
        let expired = async move {
            match deadline {
                Some(at) => clock.sleep(at.saturating_duration_since(clock.now())).await,
                None => std::future::pending().await,
            }
        };
        // A new round starts once the newest one is durable here: appends arriving during an
        // fsync form one round (larger rounds, fewer messages and fsyncs), and its prepare
        // still overlaps the replicas' work on the rounds before.
        let room = self.window.len() < self.node.config.max_rounds_in_flight
            && self.window.back().is_none_or(|r| r.local);
        tokio::select! {
            biased;
            (i, ev) = next_event(&mut self.events, &mut self.next_link) => {
                self.on_event(i, ev);
                Next::Continue
            }
            Some((id, res)) = self.local.next(), if !self.local.is_empty() => {
                self.on_local(id, res).await
            }
            batch = self.batches.recv(), if room => match batch {
                Some(batch) => self.start(batch).await,
                None => Next::Stop,
            },
            () = expired => self.on_timeout().await,
        }
    }

    /// Forms a round of `batch` and every append queued behind it, sends its Prepare to the
    /// replicas ready for it, and queues its local prepare.
    async fn start(&mut self, batch: Batch) -> Next {
        let mut batches = vec![batch];
        let mut n = batches[0].ops.len();
        while n < MAX_ROUND_OPS {
            let Ok(b) = self.batches.try_recv() else {
                break;
            };
            n += b.ops.len();
            batches.push(b);
        }
        let first = batches[0].first;
        // The ops move from the appends into the Prepare's encoding, then into the records.
        let mut ops = Vec::with_capacity(n);
        for b in &mut batches {
            ops.append(&mut b.ops);
        }
        // Encoded once: the Prepare and the local entry carry the same bytes.
        let section = encode_ops_section(first, &mut ops);
        let round = self.new_round(first, first + n as u64 - 1, &section, batches);
        let records = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| Record::Prepare {
                version: first + i as u64,
                op,
            })
            .collect();
        let id = round.id;
        self.stats.started += 1;
        self.stats.ops += n as u64;
        self.window.push_back(round);
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.window.len());
        // 2. (sent first, so the replicas' fsync overlaps ours) Prepare on the replicas that
        // hold everything before `first`. A replica holding a prepared entry its primary lost
        // is harmless: the next Sync rolls it back.
        for i in 0..self.replicas.len() {
            self.offer(i);
        }
        // 1. Prepare locally: queued behind the rounds before, made durable by the next
        // group commit.
        self.node.crash.reach(Stage::PrepareLocal).await;
        let encoded = EncodedRun {
            first,
            count: n,
            section,
        };
        match self.node.store.queue_encoded(records, Some(encoded)).await {
            Ok(Some(synced)) => {
                self.local.push_back(synced.map(move |r| (id, r)).boxed());
                Next::Continue
            }
            Ok(None) => unreachable!("a round holds at least one op"),
            Err(e) => self.fatal(e),
        }
    }

    /// A round's local Prepare records are durable (or failed to be).
    async fn on_local(&mut self, id: u64, result: Result<u64>) -> Next {
        if let Err(e) = result {
            return self.fatal(e);
        }
        // A round rolled back meanwhile is gone from the window.
        if let Some(round) = self.window.iter_mut().find(|r| r.id == id) {
            round.local = true;
            self.node.crash.reach(Stage::PrepareReplica).await;
        }
        Next::Continue
    }

    /// The required replicas that did not answer `round`.
    fn silent(&self, round: &Round) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&i| self.required(i) && !round.acked[i])
            .collect()
    }

    /// The oldest round waited for a replica for the whole timeout.
    async fn on_timeout(&mut self) -> Next {
        let Some(head) = self.window.front() else {
            return Next::Continue;
        };
        let silent = self.silent(head);
        match self.node.config.policy {
            Policy::Strict { timeout } => {
                let who = silent.iter().map(|&i| self.replicas[i].addr.as_str());
                let who = who.collect::<Vec<_>>().join(", ");
                let reason = format!("replica {who} did not prepare within {timeout:?}");
                // Every round after the head goes too: none may commit over its gap.
                let head = head.failed(&reason);
                let rolled = self.rollback(|r| r.failed(&reason)).await;
                self.fail_queued(head);
                rolled
            }
            Policy::SemiSync { .. } => {
                self.mark_lagging(&silent);
                Next::Continue
            }
        }
    }

    /// Commits every round at the front of the window that is ready (durable here, answered by
    /// every required replica), in version order.
    async fn advance(&mut self) -> Next {
        let ready = self
            .window
            .iter()
            .take_while(|r| r.local && self.silent(r).is_empty())
            .count();
        if ready == 0 {
            return Next::Continue;
        }
        // 3. and 4. Commit locally and on the replicas: no turning back from here.
        self.node.crash.reach(Stage::CommitLocal).await;
        let rounds: Vec<Round> = self.window.drain(..ready).collect();
        let last = rounds[ready - 1].last;
        let batches: Vec<Batch> = rounds.into_iter().flat_map(|r| r.batches).collect();
        self.commit(last).await;
        // With no round in flight to carry the `Commit` record, it is written (not waited
        // for) before the acknowledgments: a log reopened after an in-process crash then
        // shows them committed at once, as before.
        if self.window.is_empty() {
            if let Err(e) = self.write_commit().await {
                for b in batches {
                    let _ = b.done.send(Err(e.clone()));
                }
                return self.fatal(e);
            }
        }
        // 5. Acknowledge, in order: the ops are durably prepared here and on every required
        // replica, and whatever reopens either log commits them (see the crate docs).
        if !batches.is_empty() {
            self.node.crash.reach(Stage::Acknowledge).await;
        }
        self.publish(); // a waiter that hears its ack sees the status after it
        for b in batches {
            let _ = b.done.send(Ok(b.first));
        }
        Next::Continue
    }

    fn mark_lagging(&mut self, silent: &[usize]) {
        for &i in silent {
            tracing::warn!(replica = %self.replicas[i].addr, "replica lagging; continuing alone");
            self.replicas[i].lagging = true;
        }
    }

    /// Commits through `last` locally, in memory, and tells the replicas that will not hear it
    /// with a later Prepare.
    ///
    /// The local `Commit` record is not waited for: it rides in front of the next records
    /// written (the next round's Prepare records, so one fsync covers both), or is written
    /// alone once no round is in flight ([`Driver::write_commit`]); a failed write stops the
    /// node. A primary killed before that record is durable reopens with those entries durably
    /// prepared, and its recovery round commits them again before anything else (a promoted
    /// replica commits them too).
    async fn commit(&mut self, last: u64) {
        self.node.store.commit_lazily(last).await;
        self.stats.commits += 1;
        self.node.crash.reach(Stage::CommitReplica).await;
        self.tell_commit();
    }

    /// Sends `Commit` with the commit point to every replica that needs it now: each one once
    /// no round is in flight, and one that did not take every round in flight (lagging, or
    /// catching up) at once. A replica that took them all hears it with the next round's
    /// Prepare (formed after this commit), or here once the window is empty: a `Commit` per
    /// round would cost it one more message, record and wake-up per round.
    fn tell_commit(&mut self) {
        let committed = self.node.store.committed().get();
        let idle = self.window.is_empty();
        let commit = Msg::Commit {
            epoch: self.epoch(),
            through: committed,
        }
        .encode();
        for (i, r) in self.replicas.iter_mut().enumerate() {
            if !r.connected || r.told >= committed {
                continue;
            }
            let carried = !idle && !r.lagging && self.window.iter().all(|w| w.sent[i]);
            if !carried && r.peer.try_send(commit.clone()) {
                r.told = committed;
            }
        }
    }

    /// Writes the `Commit` record [`Driver::commit`] left unwritten, alone (no round is in
    /// flight to carry it); nobody waits for it, the watching task stops the node if it fails.
    async fn write_commit(&mut self) -> Result<(), Error> {
        let synced = self.node.store.write_unwritten_commit().await?;
        let _ = self.commit_records.send(synced);
        Ok(())
    }

    /// At start-up: the prepared tail a previous run left is replicated again and committed
    /// before any new round. Some of it may have been acknowledged (an ack does not wait for
    /// the `Commit` record's fsync), and a replica may have committed it already: it is never
    /// rolled back. `Strict` waits for
    /// the replicas as long as it takes; `SemiSync` gives up on them after its timeout.
    async fn recover(&mut self) -> Result<(), Error> {
        let (first, last, mut ops) = {
            let s = self.node.store.state();
            let (c, l) = (s.committed(), s.last());
            (c + 1, l, s.range(c + 1, l))
        };
        if ops.is_empty() {
            return Ok(());
        }
        tracing::info!(
            first,
            last,
            "recommitting the prepared tail of the previous run"
        );
        let section = encode_ops_section(first, &mut ops);
        let mut round = self.new_round(first, last, &section, Vec::new());
        round.local = true; // read back from the local log
        self.window.push_back(round);
        for i in 0..self.replicas.len() {
            self.offer(i);
        }
        let clock = Arc::clone(&self.node.config.clock);
        let timeout = self.node.config.policy.timeout();
        loop {
            if let Some(epoch) = self.fenced_by {
                return Err(fenced(epoch));
            }
            if self
                .window
                .front()
                .is_some_and(|r| self.silent(r).is_empty())
            {
                break;
            }
            tokio::select! {
                biased;
                (i, ev) = next_event(&mut self.events, &mut self.next_link) => self.on_event(i, ev),
                () = clock.sleep(timeout) => {
                    match self.node.config.policy {
                        Policy::Strict { .. } => {
                            tracing::warn!("waiting for the replicas to recommit the prepared tail");
                            // Writes queued meanwhile fail rather than hang: nothing of theirs
                            // was written.
                            self.fail_queued(Error::Unavailable {
                                reason: format!(
                                    "recommitting versions {first}..={last}: a replica does not answer"
                                ),
                            });
                        }
                        Policy::SemiSync { .. } => {
                            let silent = self.window.front().map(|r| self.silent(r));
                            self.mark_lagging(&silent.unwrap_or_default());
                        }
                    }
                }
            }
        }
        self.window.clear();
        self.commit(last).await;
        self.write_commit().await
    }

    /// Whether the rounds wait for replica `i`.
    fn required(&self, i: usize) -> bool {
        match self.node.config.policy {
            Policy::Strict { .. } => true,
            Policy::SemiSync { .. } => !self.replicas[i].lagging,
        }
    }

    /// Rolls back every round in flight, here and on the replicas, and fails each one's appends
    /// with `error(round)`. The `Rollback` record carries an unwritten `Commit` in front.
    async fn rollback(&mut self, error: impl Fn(&Round) -> Error) -> Next {
        self.local = FuturesOrdered::new(); // the rolled-back prepares' durability
        let Some(head) = self.window.front() else {
            return Next::Continue;
        };
        let (id, from) = (head.id, head.first);
        if let Err(fatal) = self
            .node
            .store
            .persist(vec![Record::Rollback { from }])
            .await
        {
            return self.fatal(fatal);
        }
        let msg = Msg::Rollback {
            epoch: self.epoch(),
            round: id,
            from,
        }
        .encode();
        for r in &mut self.replicas {
            r.sent_through = None;
            if r.connected && r.peer.try_send(msg.clone()) {
                // The replica truncates before it reads anything we send next.
                r.last = r.last.map(|l| l.min(from - 1));
            }
        }
        for round in std::mem::take(&mut self.window) {
            let e = error(&round);
            round.fail(&e);
        }
        // Nothing in flight carries the commit point to the replicas any more.
        self.tell_commit();
        Next::Continue
    }

    /// A local write failed: the node stops (a failed fsync is never retried), and every round
    /// in flight and every queued append fails with `e`.
    fn fatal(&mut self, e: Error) -> Next {
        tracing::error!(error = %e, "primary failed to persist; stopping");
        self.node.stop(e.clone());
        for round in std::mem::take(&mut self.window) {
            round.fail(&e);
        }
        self.fail_queued(e);
        Next::Stop
    }

    /// Fails every append queued behind failed rounds and rewinds version assignment, so the
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
}
