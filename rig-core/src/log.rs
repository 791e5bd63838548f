//! The [`Log`] trait: one durable, ordered, gap-free sequence of [`LogPayload`]s.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::{LogPayload, Operation, Result};

/// How long an acknowledgment waits, per operation (DESIGN §2). Ordered from weakest to strongest.
///
/// ```
/// use rig_core::Durability;
/// assert!(Durability::Applied < Durability::Local);
/// assert!(Durability::Local < Durability::Replicated);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Durability {
    /// Ordered in the log and applied, not yet durable: a crash may lose it.
    Applied,
    /// Durable on this node's storage: fsynced to disk, or PUT to the object store.
    Local,
    /// Durable on a majority (Raft) or on the replica(s) (2PC).
    Replicated,
}

/// Who may write to a log, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This node accepts appends.
    Leader,
    /// This node does not accept appends; `leader` is where they go, when known.
    Follower {
        /// The writer's address or id.
        leader: Option<String>,
    },
}

/// A snapshot as a log stores it: the engine's envelope bytes at `version`.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last version the snapshot includes.
    pub version: u64,
    /// The engine's snapshot bytes (opaque to the log).
    pub data: Bytes,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// The future [`Log::append`] returns: the batch's first version once it is durable at the
/// requested level.
pub type AppendFuture = BoxFuture<'static, Result<u64>>;

/// A durable, ordered, gap-free log of operations. The engine ([`crate::Rig`]) is its only writer
/// on a node.
///
/// Versions start at 1; version N is the N-th entry ever appended. "Committed" means an entry will
/// never change or disappear (short of losing more disks than the backend tolerates) and every
/// reader may see it.
///
/// The trait is object safe: `Arc<dyn Log>` works wherever `L: Log` does.
#[async_trait]
pub trait Log: Send + Sync + 'static {
    /// A short backend name for errors and logs, e.g. `file-log`.
    fn name(&self) -> &'static str;

    /// The strongest [`Durability`] this log offers; a stronger request is treated as this one.
    fn strongest_durability(&self) -> Durability;

    /// Appends `ops` as consecutive versions.
    ///
    /// # Contract
    /// - Ordering: versions MUST be assigned in the order of calls, as of the call itself, not of
    ///   the returned future: a batch passed to an earlier call gets lower versions than any batch
    ///   passed to a later call. Within a batch, versions follow the order of `ops`.
    /// - Durability: the future MUST NOT resolve `Ok(first_version)` before every op of the batch
    ///   is durable at `durability` (clamped to [`strongest_durability`](Log::strongest_durability))
    ///   and committed at [`Durability::Applied`] at least (readable through [`read`](Log::read)).
    /// - Failure: `Err(Unavailable | NotLeader)` means no op of the batch is or ever will be in
    ///   the log. `Err(OutcomeUnknown)` means they may be committed later and the engine will see
    ///   them through `read`. A fatal error ([`crate::Error::is_fatal`]) poisons the log: every
    ///   later call fails. If a batch fails, every batch appended after it and not yet resolved
    ///   also fails, so no gap is ever acknowledged.
    /// - Retries: the log MUST NOT retry an append whose durability step failed (a failed fsync
    ///   is never retried then acknowledged). A retry of an ambiguous write MUST first learn
    ///   whether the first attempt landed.
    /// - The future is `'static` and may be awaited on any task; dropping it does not cancel the
    ///   append.
    fn append(&self, ops: Vec<Operation>, durability: crate::Durability) -> AppendFuture;

    /// Reads up to `max` committed entries starting at version `from`, in order and without gaps.
    ///
    /// # Contract
    /// MUST return exactly the committed entries `from, from+1, ...` (possibly fewer than `max`,
    /// empty when `from > committed()`). A version below [`first_version`](Log::first_version)
    /// (compacted away) is [`crate::Error::InvalidArgument`]. Bad bytes are
    /// [`crate::Error::Corrupt`], never wrong data.
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>>;

    /// The highest committed version (0 when empty).
    fn committed(&self) -> u64;

    /// The highest version durable at this log's strongest level (fsynced, PUT, on a majority).
    /// It may trail [`committed`](Log::committed) when entries were appended at a weaker
    /// [`Durability`]. The default suits logs that only commit what is durable.
    fn durable(&self) -> u64 {
        self.committed()
    }

    /// The lowest version still readable (everything below was compacted); `committed() + 1` when
    /// the log holds no entries.
    ///
    /// # Installing a snapshot from elsewhere
    /// A replicated log whose node is too far behind may drop entries it has not handed to the
    /// engine yet and install its leader's snapshot instead. Before `first_version` rises above
    /// the engine's next version, that snapshot MUST be durable and be the one
    /// [`load_snapshot`](Log::load_snapshot) returns (its bytes passed through verbatim), with
    /// `committed() >= snapshot.version` and `first_version() <= snapshot.version + 1`. The engine
    /// notices the jump while tailing and restores the snapshot, then reads on after it.
    fn first_version(&self) -> u64;

    /// Waits until `committed() > after` and returns the new committed version (follower
    /// tailing). It MAY return early with the current value (e.g. on a role change); callers loop.
    async fn wait_committed(&self, after: u64) -> Result<u64>;

    /// Stores a snapshot of the state at `snapshot.version`.
    ///
    /// # Contract
    /// When this returns `Ok`, the snapshot is durable and [`load_snapshot`](Log::load_snapshot)
    /// returns it or a newer one. A crash midway MUST leave the previous snapshot loadable.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()>;

    /// Loads the newest durable snapshot, if any. A damaged snapshot is
    /// [`crate::Error::Corrupt`] (or skipped in favour of an older intact one), never wrong data.
    async fn load_snapshot(&self) -> Result<Option<Snapshot>>;

    /// Allows the log to drop entries at or below `through`, which MUST be at or below the version
    /// of a saved snapshot. Dropping is lazy: entries may stay readable.
    async fn compact(&self, through: u64) -> Result<()>;

    /// Whether this node accepts appends, and who does.
    fn role(&self) -> Role;

    /// Returns a version `v` such that a read of state applied through `v` is linearizable.
    /// Single-node logs return [`committed`](Log::committed); Raft uses read index or a lease.
    async fn read_barrier(&self) -> Result<u64> {
        Ok(self.committed())
    }

    /// Flushes and releases the log. Later calls fail with [`crate::Error::Closed`].
    async fn close(&self) -> Result<()>;
}

#[async_trait]
impl<L: Log + ?Sized> Log for std::sync::Arc<L> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn strongest_durability(&self) -> Durability {
        (**self).strongest_durability()
    }
    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        (**self).append(ops, durability)
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        (**self).read(from, max).await
    }
    fn committed(&self) -> u64 {
        (**self).committed()
    }
    fn durable(&self) -> u64 {
        (**self).durable()
    }
    fn first_version(&self) -> u64 {
        (**self).first_version()
    }
    async fn wait_committed(&self, after: u64) -> Result<u64> {
        (**self).wait_committed(after).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        (**self).save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        (**self).load_snapshot().await
    }
    async fn compact(&self, through: u64) -> Result<()> {
        (**self).compact(through).await
    }
    fn role(&self) -> Role {
        (**self).role()
    }
    async fn read_barrier(&self) -> Result<u64> {
        (**self).read_barrier().await
    }
    async fn close(&self) -> Result<()> {
        (**self).close().await
    }
}
