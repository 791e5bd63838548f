//! The engine's one task: admits requests, batches disjoint ones into appends, applies completed
//! batches in version order, and follows the log on followers.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, watch, RwLock};
use tokio::task::JoinHandle;

use super::admission::{admissible, InFlight};
use super::apply::{decode_cached, stale, ApplyState};
use super::clients::Seen;
use super::recovery::{self, REPLAY_CHUNK};
use super::{envelope, Command, Options, Reply};
use crate::{Durability, Error, Log, Operation, Resources, Result, Role, Service, Snapshot};

/// An admitted-or-waiting request.
struct Pending<O> {
    op: Operation,
    resources: Resources,
    durability: Durability,
    reply: Reply<O>,
}

type BatchFuture<O> = BoxFuture<'static, (Vec<Pending<O>>, Result<u64>)>;

enum Event<O> {
    Completed(Vec<Pending<O>>, Result<u64>),
    Commands(Vec<Command<O>>),
    Disconnected,
    Committed(Result<u64>),
}

pub(super) struct Sequencer<S: Service, L: Log> {
    service: Arc<RwLock<S>>,
    log: Arc<L>,
    options: Options,
    state: ApplyState,
    applied_tx: watch::Sender<u64>,
    /// Set once the engine is poisoned; shared with the handles so that waiters outside this
    /// task (read barriers) learn of it.
    poison: Arc<OnceLock<Error>>,
    waiting: VecDeque<Pending<S::Output>>,
    in_flight: InFlight,
    batches: FuturesOrdered<BatchFuture<S::Output>>,
    closing: bool,
    close_reply: Option<oneshot::Sender<Result<()>>>,
    snapshot_task: Option<JoinHandle<()>>,
}

impl<S: Service, L: Log> Sequencer<S, L> {
    pub(super) fn new(
        service: Arc<RwLock<S>>,
        log: Arc<L>,
        options: Options,
        state: ApplyState,
        applied_tx: watch::Sender<u64>,
        poison: Arc<OnceLock<Error>>,
    ) -> Self {
        Self {
            service,
            log,
            options,
            state,
            applied_tx,
            poison,
            waiting: VecDeque::new(),
            in_flight: InFlight::default(),
            batches: FuturesOrdered::new(),
            closing: false,
            close_reply: None,
            snapshot_task: None,
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command<S::Output>>) {
        loop {
            if self.closing && self.batches.is_empty() && self.waiting.is_empty() {
                self.finish_close().await;
                return;
            }
            let event = self.next_event(&mut rx).await;
            match event {
                Event::Completed(batch, result) => self.complete(batch, result).await,
                Event::Commands(cmds) => {
                    for cmd in cmds {
                        self.accept(cmd).await;
                    }
                }
                Event::Disconnected => self.closing = true,
                Event::Committed(Ok(_)) => self.catch_up(self.log.committed()).await,
                Event::Committed(Err(e)) => self.fail_fatal(e),
            }
            self.admit().await;
        }
    }

    async fn next_event(
        &mut self,
        rx: &mut mpsc::Receiver<Command<S::Output>>,
    ) -> Event<S::Output> {
        // With none of its own appends in flight, whatever the log commits beyond `applied`
        // came from elsewhere: a leader it follows, or — on a node that just became leader —
        // entries of an earlier term its election committed. Both are applied as they commit,
        // so a read barrier never waits for a write to come along and trigger the catch-up.
        let tailing = self.batches.is_empty() && self.poison.get().is_none() && !self.closing;
        let applied = self.state.applied;
        let log = &self.log;
        tokio::select! {
            biased;
            Some((batch, result)) = self.batches.next(), if !self.batches.is_empty() => {
                Event::Completed(batch, result)
            }
            cmd = rx.recv(), if !self.closing => match cmd {
                None => Event::Disconnected,
                Some(first) => {
                    let mut cmds = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        cmds.push(more);
                    }
                    Event::Commands(cmds)
                }
            },
            r = log.wait_committed(applied), if tailing => Event::Committed(r),
        }
    }

    async fn accept(&mut self, cmd: Command<S::Output>) {
        match cmd {
            Command::Execute {
                op,
                durability,
                reply,
            } => {
                if let Some(p) = self.poison.get() {
                    let _ = reply.send(Err(p.clone()));
                    return;
                }
                if self.closing {
                    let _ = reply.send(Err(Error::Closed));
                    return;
                }
                let strongest = self.log.strongest_durability();
                let service = self.service.read().await;
                let durability = durability
                    .or_else(|| service.durability(&op))
                    .unwrap_or(strongest)
                    .min(strongest);
                let mut resources = service.resources(&op).await;
                drop(service);
                if let (Some(c), Resources::Keys(keys)) = (op.client, &mut resources) {
                    // Requests of one client run in order, so a retry waits for its original.
                    keys.push(format!("\0client/{}", c.client));
                }
                self.waiting.push_back(Pending {
                    op,
                    resources,
                    durability,
                    reply,
                });
            }
            Command::Snapshot { reply } => self.start_snapshot(Some(reply)).await,
            Command::Close { reply } => {
                self.closing = true;
                self.close_reply = Some(reply);
            }
        }
    }

    /// Validates every waiting request that overlaps nothing in flight and appends them, one
    /// batch per durability level.
    async fn admit(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        if let Some(p) = self.poison.get().cloned() {
            for w in self.waiting.drain(..) {
                let _ = w.reply.send(Err(p.clone()));
            }
            return;
        }
        if let Role::Follower { leader } = self.log.role() {
            for w in self.waiting.drain(..) {
                let _ = w.reply.send(Err(Error::NotLeader {
                    leader: leader.clone(),
                }));
            }
            return;
        }
        if self.batches.is_empty() && self.log.committed() > self.state.applied {
            // Entries from elsewhere (a previous leader, an ambiguous append that landed) must be
            // applied before validating anything new.
            self.catch_up(self.log.committed()).await;
            if self.poison.get().is_some() {
                return Box::pin(self.admit()).await;
            }
        }
        // An op answered without being appended (rejected, or a retry answered from the client
        // table) frees the resources it reserved in this round: ops queued behind it get
        // another round at once instead of waiting for an unrelated event.
        while self.admit_round().await && !self.waiting.is_empty() {}
    }

    /// One admission pass; returns true when some op was answered without being appended.
    async fn admit_round(&mut self) -> bool {
        let mut answered = false;
        let ok = admissible(&self.in_flight, self.waiting.iter().map(|p| &p.resources));
        let mut keep = VecDeque::new();
        let mut groups: Vec<(Durability, Vec<Pending<S::Output>>)> = Vec::new();
        let service = self.service.read().await;
        for (pending, ok) in std::mem::take(&mut self.waiting).into_iter().zip(ok) {
            if !ok {
                keep.push_back(pending);
                continue;
            }
            if let Some(c) = pending.op.client {
                match self.state.clients.check(c) {
                    Seen::New => {}
                    Seen::Duplicate(last) => {
                        let _ = pending
                            .reply
                            .send(decode_cached(last.version, &last.output));
                        answered = true;
                        continue;
                    }
                    Seen::Stale { latest } => {
                        let _ = pending.reply.send(Err(stale(c.client, c.seq, latest)));
                        answered = true;
                        continue;
                    }
                }
            }
            if let Err(rejection) = service.validate(&pending.op).await {
                let _ = pending.reply.send(Err(Error::Rejected(rejection)));
                answered = true;
                continue;
            }
            self.in_flight.acquire(&pending.resources);
            match groups
                .iter_mut()
                .find(|(d, ops)| *d == pending.durability && ops.len() < self.options.max_batch)
            {
                Some((_, ops)) => ops.push(pending),
                None => groups.push((pending.durability, vec![pending])),
            }
        }
        drop(service);
        self.waiting = keep;
        for (durability, batch) in groups {
            let ops = batch.iter().map(|p| p.op.clone()).collect();
            let append = self.log.append(ops, durability);
            self.batches
                .push_back(async move { (batch, append.await) }.boxed());
        }
        answered
    }

    async fn complete(&mut self, batch: Vec<Pending<S::Output>>, result: Result<u64>) {
        for p in &batch {
            self.in_flight.release(&p.resources);
        }
        if let Some(p) = self.poison.get() {
            for b in batch {
                let _ = b.reply.send(Err(p.clone()));
            }
            return;
        }
        let first = match result {
            Ok(first) => first,
            Err(e) => {
                for b in batch {
                    let _ = b.reply.send(Err(e.clone()));
                }
                if e.is_fatal() {
                    self.fail_fatal(e);
                }
                return;
            }
        };
        if first > self.state.applied + 1 {
            self.catch_up(first - 1).await;
        }
        if self.poison.get().is_none() && first != self.state.applied + 1 {
            self.fail_fatal(Error::corrupt(
                self.log.name(),
                format!(
                    "append returned version {first} but the engine applied through {}",
                    self.state.applied
                ),
            ));
        }
        let lock = self.service.clone();
        let mut service = lock.write().await;
        for (i, b) in batch.into_iter().enumerate() {
            if let Some(p) = self.poison.get() {
                let _ = b.reply.send(Err(p.clone()));
                continue;
            }
            match self
                .state
                .apply(&mut *service, first + i as u64, &b.op)
                .await
            {
                Ok(answer) => {
                    let _ = b.reply.send(answer);
                }
                Err(fatal) => {
                    let _ = b.reply.send(Err(fatal.clone()));
                    self.fail_fatal(fatal);
                }
            }
        }
        drop(service);
        self.applied_tx.send_replace(self.state.applied);
        self.maybe_snapshot().await;
    }

    /// Applies committed entries written by someone else, up to `target`.
    async fn catch_up(&mut self, target: u64) {
        while self.poison.get().is_none() && self.state.applied < target {
            if self.state.applied + 1 < self.log.first_version() {
                if let Err(fatal) = self.restore_installed_snapshot().await {
                    return self.fail_fatal(fatal);
                }
                continue;
            }
            let entries = match self.log.read(self.state.applied + 1, REPLAY_CHUNK).await {
                Ok(e) if e.is_empty() => return,
                Ok(e) => e,
                // A snapshot was installed between the check above and the read: restore it.
                Err(_) if self.state.applied + 1 < self.log.first_version() => continue,
                Err(e) => return self.fail_fatal(e),
            };
            let mut service = self.service.write().await;
            for p in entries {
                if let Err(fatal) = self.state.apply(&mut *service, p.version, &p.op).await {
                    drop(service);
                    return self.fail_fatal(fatal);
                }
            }
            drop(service);
            self.applied_tx.send_replace(self.state.applied);
        }
        self.maybe_snapshot().await;
    }

    /// The log dropped entries this engine has not applied, in favour of a snapshot it installed
    /// from its leader (Log contract: that snapshot is then the one `load_snapshot` returns).
    /// Restores it and lets the caller go on reading after it.
    async fn restore_installed_snapshot(&mut self) -> Result<()> {
        let first = self.log.first_version();
        let applied = self.state.applied;
        let covering = recovery::load_snapshot(&*self.log)
            .await?
            .filter(|env| env.version > applied && env.version + 1 >= first);
        let Some(env) = covering else {
            return Err(Error::corrupt(
                self.log.name(),
                format!(
                    "state is at version {applied} but the log starts at {first} and holds no \
                     snapshot covering the entries in between"
                ),
            ));
        };
        let mut service = self.service.write().await;
        recovery::restore(
            &mut *service,
            &*self.log,
            &mut self.state,
            env.version,
            env.service,
        )
        .await?;
        drop(service);
        self.state.clients = env.clients;
        self.state.ops_since_snapshot = 0;
        self.state.bytes_since_snapshot = 0;
        self.applied_tx.send_replace(self.state.applied);
        Ok(())
    }

    fn fail_fatal(&mut self, error: Error) {
        if self.poison.get().is_some() {
            return;
        }
        tracing::error!(%error, backend = self.log.name(), "engine poisoned");
        let poison = match error {
            Error::Poisoned { .. } => error,
            other => Error::Poisoned {
                cause: other.to_string(),
            },
        };
        for w in self.waiting.drain(..) {
            let _ = w.reply.send(Err(poison.clone()));
        }
        let _ = self.poison.set(poison);
        // Wake read barriers waiting for an applied version that will now never come.
        self.applied_tx.send_modify(|_| {});
    }

    async fn maybe_snapshot(&mut self) {
        let policy = self.options.snapshot;
        let due = policy
            .every_ops
            .is_some_and(|n| self.state.ops_since_snapshot >= n)
            || policy
                .every_bytes
                .is_some_and(|n| self.state.bytes_since_snapshot >= n);
        let busy = self
            .snapshot_task
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        if due && !busy && self.poison.get().is_none() {
            self.start_snapshot(None).await;
        }
    }

    /// Serializes the state now (writes wait for this part only) and saves it in the background.
    async fn start_snapshot(&mut self, reply: Option<oneshot::Sender<Result<u64>>>) {
        if let Some(p) = self.poison.get() {
            if let Some(r) = reply {
                let _ = r.send(Err(p.clone()));
            }
            return;
        }
        let version = self.state.applied;
        let service_bytes = self.service.read().await.snapshot().await;
        let data = match service_bytes {
            Ok(bytes) => envelope::encode(version, &self.state.clients, &bytes),
            Err(e) => {
                tracing::warn!(version, error = %e, "service snapshot failed");
                if let Some(r) = reply {
                    let _ = r.send(Err(Error::Backend {
                        backend: "service",
                        context: format!("snapshot at version {version}"),
                        source: Arc::new(e),
                    }));
                }
                return;
            }
        };
        self.state.ops_since_snapshot = 0;
        self.state.bytes_since_snapshot = 0;
        let log = self.log.clone();
        let previous = self.snapshot_task.take();
        self.snapshot_task = Some(tokio::spawn(async move {
            if let Some(p) = previous {
                let _ = p.await; // saves complete in version order
            }
            let bytes = data.len();
            let result = async {
                log.save_snapshot(Snapshot { version, data }).await?;
                log.compact(version).await?;
                Ok(version)
            }
            .await;
            match &result {
                Ok(_) => tracing::info!(version, bytes, "snapshot saved"),
                Err(e) => tracing::warn!(version, error = %e, "snapshot not saved"),
            }
            if let Some(r) = reply {
                let _ = r.send(result);
            }
        }));
    }

    async fn finish_close(&mut self) {
        if let Some(t) = self.snapshot_task.take() {
            let _ = t.await;
        }
        let result = self.log.close().await;
        if let Some(r) = self.close_reply.take() {
            let _ = r.send(result);
        }
    }
}
