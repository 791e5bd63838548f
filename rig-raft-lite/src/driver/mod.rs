//! [`RaftLog`]: the async driver that puts the sans-IO core behind rig-core's [`Log`] trait.
//!
//! One task per node feeds the core ticks (from the [`Clock`] seam) and messages (from a
//! [`Network`]); `append`, `read_barrier` and the other calls step the core directly in the same
//! critical section, so versions are assigned in call order. In Strict mode, where each proposal
//! costs an fsync on every node, appends are held back and the node's task proposes them together,
//! and it steps the messages waiting in its inbox together before one fsync (group commit).
//!
//! Durability levels: `Applied` resolves once the batch is committed (in `Volatile` mode: received
//! by a majority), `Local` once it is also fsynced on this node, `Replicated` once it is durable on
//! a majority. In `Strict` mode every write is synced before the node acknowledges it, so the
//! three coincide except for `Local` on a lagging leader disk.

mod members;
mod mirror;
mod net;
mod node;
mod router;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use rig_core::codec::encode_payload;
use rig_core::seams::{Clock, Rand};
use rig_core::{
    async_trait, AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role,
    Snapshot,
};
use tokio::sync::{watch, Notify};

pub use self::net::NetNetwork;
use self::node::Node;
pub use self::router::{Inbox, Network, Router};
use crate::core::{CommitMode, Config, Input, Message, NodeId, Raft};
use crate::storage::Storage;

/// How a [`RaftLog`] node runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The core's configuration (id, voters, timeouts in ticks, commit mode, ...).
    pub config: Config,
    /// The length of one tick.
    pub tick: Duration,
    /// `Volatile` mode: how often written entries are synced (at most one second).
    pub sync_interval: Duration,
    /// Names reported as the leader in `NotLeader` and [`Role`] (default: the id in decimal).
    pub names: BTreeMap<NodeId, String>,
}

impl Options {
    /// Options with a 10 ms tick and a 100 ms background sync.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            tick: Duration::from_millis(10),
            sync_interval: Duration::from_millis(100),
            names: BTreeMap::new(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    id: NodeId,
    node: Mutex<Node>,
    net: Arc<dyn Network>,
    /// (committed version, role epoch): tailers wake on either.
    committed: watch::Sender<(u64, u64)>,
    running: watch::Sender<bool>,
    /// Strict mode: appends were held back; the node's task proposes them together.
    held_back: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in the critical section, then sends what it produced and publishes progress.
    fn with_node<R>(&self, f: impl FnOnce(&mut Node) -> R) -> R {
        let (r, outbox, now, members) = {
            let mut node = self.lock();
            let r = f(&mut node);
            let epoch = node.raft.term() * 2 + u64::from(node.raft.is_leader());
            (
                r,
                std::mem::take(&mut node.outbox),
                (node.mirror.committed(), epoch),
                node.members_update.take(),
            )
        };
        // New members first: the messages below may be their first.
        if let Some(members) = members {
            self.net.set_members(&members);
        }
        for (to, msg) in outbox {
            self.net.send(self.id, to, msg);
        }
        self.committed.send_if_modified(|c| {
            let moved = now.0 > c.0 || now.1 != c.1;
            *c = (now.0.max(c.0), now.1);
            moved
        });
        r
    }
}

/// One node of a Raft group, as a [`Log`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rig_core::Result<()> {
/// use std::sync::Arc;
/// use rig_core::{seams::{SeededRand, TokioClock}, Durability, Log, Operation};
/// use rig_raft_lite::{core::Config, driver::{Options, RaftLog, Router}, storage::MemStorage};
///
/// let router = Router::default();
/// let inbox = router.register(1);
/// let opts = Options::new(Config::new(1, vec![1]));
/// let log = RaftLog::start(opts, Box::new(MemStorage::default()), Arc::new(router), inbox,
///     Arc::new(TokioClock), Box::new(SeededRand::new(1)))?;
/// while log.role() != rig_core::Role::Leader {
///     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
/// }
/// let v = log.append(vec![Operation::new("set", "a")], Durability::Replicated).await?;
/// assert_eq!(log.read(v, 10).await?[0].op.method, "set");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RaftLog {
    shared: Arc<Shared>,
}

impl RaftLog {
    /// Starts a node on `storage`, receiving from `inbox` and sending through `net`.
    pub fn start(
        opts: Options,
        mut storage: Box<dyn Storage>,
        net: Arc<dyn Network>,
        inbox: Inbox,
        clock: Arc<dyn Clock>,
        rand: Box<dyn Rand>,
    ) -> Result<Self> {
        let loaded = storage.load()?;
        // The core counts the loaded log as persisted, but after a process crash part of it may
        // sit only in the page cache (written, never synced): sync it before anyone is told.
        storage.sync()?;
        let id = opts.config.id;
        let raft = Raft::new(opts.config.clone(), rand, loaded.restored);
        net.set_members(raft.membership());
        let node = Node::new(raft, storage, loaded.base_version, opts.names.clone())?;
        let committed = node.mirror.committed();
        let shared = Arc::new(Shared {
            id,
            node: Mutex::new(node),
            net,
            committed: watch::channel((committed, 0)).0,
            running: watch::channel(true).0,
            held_back: Notify::new(),
        });
        let sync_every =
            (opts.sync_interval.as_nanos() / opts.tick.as_nanos().max(1)).max(1) as u64;
        tokio::spawn(run(shared.clone(), inbox, clock, opts.tick, sync_every));
        Ok(Self { shared })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.shared.lock().raft.term()
    }

    /// How many `read_barrier` calls this node answered under its leader lease.
    pub fn lease_reads_served(&self) -> u64 {
        self.shared.lock().raft.lease_reads_served()
    }

    /// Snapshots this node installed from a leader's stream (since it started).
    pub fn snapshots_installed(&self) -> u64 {
        self.shared.lock().raft.snapshots_installed()
    }

    /// Gaps in this node's log filled so far (since it started): `(by peers other than the
    /// leader, by the leader)`.
    pub fn gap_fills(&self) -> (u64, u64) {
        self.shared.lock().raft.gap_fills()
    }

    /// Asks the leader (this node) to hand leadership to `to`.
    pub fn transfer_leader(&self, to: NodeId) {
        self.shared.with_node(|n| n.step(Input::TransferLeader(to)));
    }
}

/// Strict mode: at most this many waiting messages are stepped before one fsync.
const MAX_MESSAGES_PER_SYNC: usize = 64;

async fn run(
    shared: Arc<Shared>,
    mut inbox: Inbox,
    clock: Arc<dyn Clock>,
    tick: Duration,
    sync_every: u64,
) {
    let strict = shared.lock().raft.config().commit_mode == CommitMode::Strict;
    let mut running = shared.running.subscribe();
    let mut ticks = 0u64;
    let mut sleep = clock.sleep(tick);
    loop {
        tokio::select! {
            biased;
            _ = running.wait_for(|r| !*r) => break,
            () = &mut sleep => {
                sleep = clock.sleep(tick);
                ticks += 1;
                shared.with_node(|n| {
                    n.step(Input::Tick);
                    if ticks.is_multiple_of(sync_every) {
                        n.background_sync();
                    }
                });
            }
            () = shared.held_back.notified() => shared.with_node(Node::propose_held_back),
            msg = inbox.recv() => match msg {
                Some((from, Message::Join { id, addr })) => {
                    shared.with_node(|n| n.on_join(from, id, addr));
                }
                Some((from, msg)) if strict => {
                    // Strict mode: the messages already waiting are taken together and share
                    // one fsync (nothing is sent before it: the outbox goes out afterwards).
                    let mut batch = vec![(from, msg)];
                    while batch.len() < MAX_MESSAGES_PER_SYNC {
                        match inbox.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    shared.with_node(|n| n.step_messages(batch));
                }
                Some((from, msg)) => shared.with_node(|n| n.step(Input::Message(from, msg))),
                None => break,
            },
        }
    }
}

fn encode(ops: Vec<Operation>, first: u64) -> Vec<Bytes> {
    ops.into_iter()
        .zip(first..)
        .map(|(op, version)| {
            let mut buf = BytesMut::new();
            encode_payload(&LogPayload { version, op }, &mut buf);
            buf.freeze()
        })
        .collect()
}

#[async_trait]
impl Log for RaftLog {
    fn name(&self) -> &'static str {
        "raft-lite"
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Replicated
    }

    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        if ops.is_empty() {
            let err = Error::InvalidArgument("empty batch".into());
            return futures_util::future::ready(Err(err)).boxed();
        }
        let (rx, strict) = self.shared.with_node(|n| {
            let strict = n.raft.config().commit_mode == CommitMode::Strict;
            (n.propose(|first| encode(ops, first), durability), strict)
        });
        if strict {
            self.shared.held_back.notify_one();
        }
        async move {
            match rx {
                Ok(rx) => rx.await.unwrap_or(Err(Error::Closed)),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        let node = self.shared.lock();
        node.check()?;
        node.mirror.read(from, max)
    }

    fn committed(&self) -> u64 {
        self.shared.lock().mirror.committed()
    }

    fn durable(&self) -> u64 {
        let node = self.shared.lock();
        node.mirror.version_at(node.raft.durable())
    }

    fn first_version(&self) -> u64 {
        self.shared.lock().mirror.first_version()
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        let mut rx = self.shared.committed.subscribe();
        let epoch = rx.borrow_and_update().1;
        loop {
            self.shared.lock().check()?;
            let (now, now_epoch) = *rx.borrow_and_update();
            // Returns early on a role change (term or leadership), as the contract allows.
            if now > after || now_epoch != epoch {
                return Ok(now);
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.shared.lock().save_snapshot(&snapshot)
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        let node = self.shared.lock();
        node.check()?;
        node.load_snapshot()
    }

    async fn compact(&self, through: u64) -> Result<()> {
        self.shared.with_node(|n| {
            n.check()?;
            if let Some(index) = n.mirror.index_at_version(through) {
                n.step(Input::Compact(index));
            }
            n.check()
        })
    }

    fn role(&self) -> Role {
        let node = self.shared.lock();
        if node.raft.is_leader() {
            Role::Leader
        } else {
            Role::Follower {
                leader: node.leader_name(),
            }
        }
    }

    async fn read_barrier(&self) -> Result<u64> {
        let rx = self.shared.with_node(|n| {
            if !n.raft.is_leader() {
                return Err(Error::NotLeader {
                    leader: n.leader_name(),
                });
            }
            n.read_index()
        })?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    async fn close(&self) -> Result<()> {
        self.shared.with_node(Node::close);
        self.shared.running.send_replace(false);
        // Wake tailers so they observe the closed state.
        self.shared.committed.send_modify(|_| {});
        Ok(())
    }
}

impl Drop for RaftLog {
    fn drop(&mut self) {
        self.shared.running.send_replace(false);
    }
}
