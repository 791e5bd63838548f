//! [`NodeSlot`]: where a [`Cluster`](super::Cluster) keeps a node's log, so that it can take the
//! log back (to kill it) while cases still hold handles to it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};

type Shared<L> = Arc<RwLock<Option<Arc<L>>>>;

/// One node's log, or nothing while the node is down.
///
/// [`handle`](NodeSlot::handle) gives out a [`Log`] that forwards to whatever the slot holds at
/// each call and fails with [`Error::Closed`] while it is empty; [`take`](NodeSlot::take) gets
/// the log back by value (for a backend whose crash method consumes it) once no call is using it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use rig_core::{Durability, Log, MemLog, Operation};
/// use rig_testkit::conformance::NodeSlot;
///
/// let slot = NodeSlot::default();
/// slot.put(MemLog::new());
/// let handle = slot.handle();
/// handle.append(vec![Operation::new("a", "")], Durability::Local).await.unwrap();
/// let log: MemLog = slot.take().await.unwrap();
/// assert_eq!(log.committed(), 1);
/// assert!(handle.append(vec![Operation::new("b", "")], Durability::Local).await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct NodeSlot<L>(Shared<L>);

impl<L> Default for NodeSlot<L> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<L: Log> NodeSlot<L> {
    /// Puts a (re)started node's log in the slot.
    pub fn put(&self, log: L) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(log));
    }

    /// The log, if the node is up.
    pub fn get(&self) -> Option<Arc<L>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Empties the slot and returns the log by value once no forwarded call holds it any more
    /// (handles fail with `Closed` from now on). `None` if the slot was empty. Panics if a call
    /// keeps the log for more than 10 s.
    pub async fn take(&self) -> Option<L> {
        let mut log = self.0.write().unwrap_or_else(|e| e.into_inner()).take()?;
        for _ in 0..1000 {
            match Arc::try_unwrap(log) {
                Ok(owned) => return Some(owned),
                Err(shared) => log = shared,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a call kept the node's log for more than 10 s: cannot take it back");
    }

    /// A [`Log`] that forwards to this slot's log at every call.
    pub fn handle(&self) -> Arc<dyn Log> {
        Arc::new(SlotHandle(Arc::clone(&self.0)))
    }
}

struct SlotHandle<L>(Shared<L>);

impl<L: Log> SlotHandle<L> {
    fn log(&self) -> Result<Arc<L>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(Error::Closed)
    }
}

#[async_trait]
impl<L: Log> Log for SlotHandle<L> {
    fn name(&self) -> &'static str {
        self.log().map_or("node down", |l| l.name())
    }
    fn strongest_durability(&self) -> Durability {
        self.log()
            .map_or(Durability::Replicated, |l| l.strongest_durability())
    }
    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        match self.log() {
            Ok(l) => l.append(ops, durability),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.log()?.read(from, max).await
    }
    fn committed(&self) -> u64 {
        self.log().map_or(0, |l| l.committed())
    }
    fn durable(&self) -> u64 {
        self.log().map_or(0, |l| l.durable())
    }
    fn first_version(&self) -> u64 {
        self.log().map_or(1, |l| l.first_version())
    }
    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.log()?.wait_committed(after).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.log()?.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.log()?.load_snapshot().await
    }
    async fn compact(&self, through: u64) -> Result<()> {
        self.log()?.compact(through).await
    }
    fn role(&self) -> Role {
        self.log()
            .map_or(Role::Follower { leader: None }, |l| l.role())
    }
    async fn read_barrier(&self) -> Result<u64> {
        self.log()?.read_barrier().await
    }
    async fn close(&self) -> Result<()> {
        self.log()?.close().await
    }
}
