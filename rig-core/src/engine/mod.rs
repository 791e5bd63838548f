//! The engine [`Rig`]: validate → lock resources → append → wait durable → apply → unlock → ack.

mod admission;
mod apply;
mod clients;
mod envelope;
mod recovery;
mod sequencer;

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot, watch, RwLock, RwLockReadGuard};

use crate::{Durability, Error, Log, Operation, Result, Role, Service};

/// The result of an acknowledged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed<O> {
    /// The version the operation was logged and applied at.
    pub version: u64,
    /// What the service's `apply` returned (for a retried request: the original result).
    pub output: O,
}

/// When the engine takes a snapshot on its own. `None` disables a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Snapshot after this many operations were applied since the last snapshot.
    pub every_ops: Option<u64>,
    /// Snapshot after this many bytes of operation data were applied since the last snapshot.
    pub every_bytes: Option<u64>,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every_ops: Some(100_000),
            every_bytes: Some(64 << 20),
        }
    }
}

/// Engine settings.
///
/// ```
/// let opts = rig_core::Options { max_batch: 256, ..Default::default() };
/// assert_eq!(opts.snapshot.every_ops, Some(100_000));
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    /// When to snapshot automatically.
    pub snapshot: SnapshotPolicy,
    /// The most operations one append batch may carry.
    pub max_batch: usize,
    /// How many requests may queue before `execute` waits (backpressure).
    pub queue_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            snapshot: SnapshotPolicy::default(),
            max_batch: 1024,
            queue_depth: 4096,
        }
    }
}

/// What the engine reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The last version applied to the service.
    pub applied: u64,
    /// The log's committed version.
    pub committed: u64,
    /// The log's durable version (at its strongest durability level).
    pub durable: u64,
    /// The lowest version the log still holds.
    pub first_version: u64,
    /// This node's role.
    pub role: Role,
    /// The log backend's name.
    pub backend: &'static str,
}

type Reply<O> = oneshot::Sender<Result<Executed<O>>>;

enum Command<O> {
    Execute {
        op: Operation,
        durability: Option<Durability>,
        reply: Reply<O>,
    },
    Snapshot {
        reply: oneshot::Sender<Result<u64>>,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
}

/// The engine: puts a [`Log`] in front of a [`Service`].
///
/// Cheap to clone; every clone drives the same engine. See the crate docs for a full example.
///
/// # Contract (DESIGN §3)
/// - An operation is acknowledged only after it is durable at the requested level and applied; a
///   rejected operation is never logged.
/// - Operations are applied exactly once, in version order; after a crash and [`Rig::open`], the
///   state equals applying every acknowledged version in order.
/// - Operations whose [`crate::Resources`] are disjoint are validated and appended together in one
///   batch; an operation that overlaps one in flight waits until that one is applied.
/// - An `apply` failure, a failed fsync or a fenced log poisons the engine: every later call fails
///   with [`Error::Poisoned`].
pub struct Rig<S: Service, L: Log> {
    shared: Arc<Shared<S, L>>,
}

struct Shared<S: Service, L: Log> {
    service: Arc<RwLock<S>>,
    log: Arc<L>,
    commands: mpsc::Sender<Command<S::Output>>,
    applied: watch::Receiver<u64>,
    /// Set once the engine is poisoned (the sequencer owns the authoritative copy).
    poison: Arc<OnceLock<Error>>,
}

impl<S: Service, L: Log> Clone for Rig<S, L> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Service, L: Log> std::fmt::Debug for Rig<S, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("backend", &self.shared.log.name())
            .field("applied", &*self.shared.applied.borrow())
            .finish()
    }
}

impl<S: Service, L: Log> Rig<S, L> {
    /// Opens the engine with default [`Options`]: restores the latest snapshot, replays the log
    /// after it (progress is reported through `tracing`), then starts accepting operations.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// assert_eq!(rig.applied_version(), 0);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(service: S, log: L) -> Result<Self> {
        Self::open_with(service, log, Options::default()).await
    }

    /// Opens the engine with explicit [`Options`].
    pub async fn open_with(mut service: S, log: L, options: Options) -> Result<Self> {
        let log = Arc::new(log);
        let recovered = recovery::recover(&mut service, &*log).await?;
        let service = Arc::new(RwLock::new(service));
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let (applied_tx, applied_rx) = watch::channel(recovered.applied);
        let poison = Arc::new(OnceLock::new());
        let seq = sequencer::Sequencer::new(
            service.clone(),
            log.clone(),
            options,
            recovered,
            applied_tx,
            poison.clone(),
        );
        tokio::spawn(seq.run(rx));
        Ok(Self {
            shared: Arc::new(Shared {
                service,
                log,
                commands: tx,
                applied: applied_rx,
                poison,
            }),
        })
    }

    /// Executes `op` at the durability the service asks for, or the log's strongest.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// let done = rig.execute(add("hits", 2)).await?;
    /// assert_eq!((done.version, done.output), (1, 2));
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn execute(&self, op: Operation) -> Result<Executed<S::Output>> {
        self.submit(op, None).await
    }

    /// Executes `op`, acknowledging once it is durable at `durability` (clamped to the log's
    /// strongest level).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// use rig_core::Durability;
    /// let done = rig.execute_with(add("views", 1), Durability::Applied).await?;
    /// assert_eq!(done.output, 1);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn execute_with(
        &self,
        op: Operation,
        durability: Durability,
    ) -> Result<Executed<S::Output>> {
        self.submit(op, Some(durability)).await
    }

    async fn submit(
        &self,
        op: Operation,
        durability: Option<Durability>,
    ) -> Result<Executed<S::Output>> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Execute {
            op,
            durability,
            reply,
        })
        .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    async fn send(&self, cmd: Command<S::Output>) -> Result<()> {
        self.shared
            .commands
            .send(cmd)
            .await
            .map_err(|_| Error::Closed)
    }

    /// Read access to the service's current (applied) state. On a follower it may be stale; call
    /// [`read_barrier`](Rig::read_barrier) first for a linearizable read.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// rig.execute(add("a", 5)).await?;
    /// assert_eq!(rig.state().await.get("a"), 5);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn state(&self) -> RwLockReadGuard<'_, S> {
        self.shared.service.read().await
    }

    /// Waits until the state reflects every operation committed before this call, so that a read
    /// through [`state`](Rig::state) that follows is linearizable. Returns the version waited for,
    /// or [`Error::Poisoned`] if the engine stops before it gets there.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// rig.execute(add("a", 1)).await?;
    /// assert_eq!(rig.read_barrier().await?, 1);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_barrier(&self) -> Result<u64> {
        let target = self.shared.log.read_barrier().await?;
        let mut applied = self.shared.applied.clone();
        let poison = &self.shared.poison;
        let reached = *applied
            .wait_for(|v| *v >= target || poison.get().is_some())
            .await
            .map_err(|_| Error::Closed)?
            >= target;
        match poison.get() {
            Some(p) if !reached => Err(p.clone()),
            _ => Ok(target),
        }
    }

    /// Takes a snapshot at the current applied version, stores it durably in the log, then lets the
    /// log compact entries at or below it. Returns the snapshot's version.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// rig.execute(add("a", 1)).await?;
    /// assert_eq!(rig.snapshot_now().await?, 1);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn snapshot_now(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Snapshot { reply }).await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The last applied version.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// rig.execute(add("a", 1)).await?;
    /// assert_eq!(rig.applied_version(), 1);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn applied_version(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// The engine's and the log's current position and role.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// let status = rig.status();
    /// assert_eq!((status.backend, status.role), ("mem-log", rig_core::Role::Leader));
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn status(&self) -> Status {
        let log = &self.shared.log;
        Status {
            applied: self.applied_version(),
            committed: log.committed(),
            durable: log.durable(),
            first_version: log.first_version(),
            role: log.role(),
            backend: log.name(),
        }
    }

    /// The log under the engine (e.g. for backend-specific status).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// use rig_core::Log;
    /// assert_eq!(rig.log().committed(), 0);
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn log(&self) -> &L {
        &self.shared.log
    }

    /// Stops accepting operations, waits for those in flight, and closes the log.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{doc_support::{add, Counters}, MemLog, Rig};
    /// let rig = Rig::open(Counters::default(), MemLog::new()).await?;
    /// rig.close().await?;
    /// assert!(matches!(rig.execute(add("a", 1)).await, Err(rig_core::Error::Closed)));
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Close { reply }).await?;
        rx.await.map_err(|_| Error::Closed)?
    }
}
