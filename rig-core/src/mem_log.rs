//! [`MemLog`]: the in-memory reference [`Log`], for docs, examples and engine tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::FutureExt;
use tokio::sync::watch;

use crate::log::AppendFuture;
use crate::sync::Watermark;
use crate::{Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot};

#[derive(Debug, Default)]
struct Stored {
    /// Entries from `first` on; `entries[i]` has version `first + i`.
    entries: Vec<LogPayload>,
    first: u64,
    snapshot: Option<Snapshot>,
    batch_sizes: Vec<usize>,
    fail_next: Option<(Error, bool)>,
}

#[derive(Debug)]
struct Shared {
    stored: Mutex<Stored>,
    committed: Watermark,
    /// `false` holds every append's acknowledgment (not its ordering) until set back to `true`.
    gate: watch::Sender<bool>,
}

/// An in-memory [`Log`]: the reference implementation of the contract, like `object_store`'s
/// `InMemory`.
///
/// Memory counts as its "disk": entries survive closing and reopening a [`crate::Rig`] over a clone
/// of the same `MemLog` in one process, not a process crash. Clones share the log. Test hooks
/// ([`fail_next_append`](MemLog::fail_next_append), [`pause_acks`](MemLog::pause_acks),
/// [`follower_view`](MemLog::follower_view)) let engine tests drive failures and roles.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use rig_core::{Durability, Log, MemLog, Operation};
/// let log = MemLog::new();
/// let first = log.append(vec![Operation::new("a", ""), Operation::new("b", "")], Durability::Local).await.unwrap();
/// assert_eq!(first, 1);
/// assert_eq!(log.committed(), 2);
/// let entries = log.read(2, 10).await.unwrap();
/// assert_eq!(entries[0].op.method, "b");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MemLog {
    shared: Arc<Shared>,
    closed: Arc<AtomicBool>,
    /// `Some` makes this handle a follower with the given leader hint.
    follower_of: Option<Option<String>>,
}

impl Default for MemLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemLog {
    /// An empty log.
    pub fn new() -> Self {
        let stored = Stored {
            first: 1,
            ..Stored::default()
        };
        Self {
            shared: Arc::new(Shared {
                stored: Mutex::new(stored),
                committed: Watermark::new(0),
                gate: watch::Sender::new(true),
            }),
            closed: Arc::new(AtomicBool::new(false)),
            follower_of: None,
        }
    }

    /// A new handle on the same entries, as a process would see them after a restart: not closed,
    /// same role as this one.
    pub fn reopen(&self) -> Self {
        Self {
            closed: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// A handle on the same entries that reports [`Role::Follower`] with `leader` as the hint, and
    /// refuses appends with `NotLeader`.
    pub fn follower_view(&self, leader: Option<String>) -> Self {
        Self {
            closed: Arc::new(AtomicBool::new(false)),
            follower_of: Some(leader),
            ..self.clone()
        }
    }

    /// Makes the next append fail with `error`. With `written = true` the batch is stored first
    /// (an ambiguous write, e.g. for `OutcomeUnknown`).
    pub fn fail_next_append(&self, error: Error, written: bool) {
        self.stored().fail_next = Some((error, written));
    }

    /// While paused, appends are ordered and stored but their futures do not resolve.
    pub fn pause_acks(&self, paused: bool) {
        self.shared.gate.send_replace(!paused);
    }

    /// Installs `snapshot` as a replicated log does when its node is too far behind its leader
    /// (see [`Log::first_version`]): stores it, drops every entry at or below its version, and
    /// commits through it. Entries already held after it are kept.
    pub fn install_snapshot(&self, snapshot: Snapshot) {
        let version = snapshot.version;
        let mut s = self.stored();
        let drop_n = (version + 1)
            .saturating_sub(s.first)
            .min(s.entries.len() as u64);
        s.entries.drain(..drop_n as usize);
        s.first = s.first.max(version + 1);
        s.snapshot = Some(snapshot);
        drop(s);
        self.shared.committed.advance(version);
    }

    /// The size of every batch appended so far, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.stored().batch_sizes.clone()
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.shared.stored.lock().expect("memlog lock")
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn try_append(&self, ops: Vec<Operation>) -> Result<u64> {
        self.check_open()?;
        if let Some(leader) = &self.follower_of {
            return Err(Error::NotLeader {
                leader: leader.clone(),
            });
        }
        let mut s = self.stored();
        let fail = s.fail_next.take();
        if let Some((error, false)) = fail {
            return Err(error);
        }
        let first = s.first + s.entries.len() as u64;
        s.batch_sizes.push(ops.len());
        let n = ops.len() as u64;
        s.entries.extend(
            ops.into_iter()
                .zip(first..)
                .map(|(op, version)| LogPayload { version, op }),
        );
        drop(s);
        self.shared.committed.advance(first + n - 1);
        match fail {
            Some((error, true)) => Err(error),
            _ => Ok(first),
        }
    }
}

#[async_trait]
impl Log for MemLog {
    fn name(&self) -> &'static str {
        "mem-log"
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Local
    }

    fn append(&self, ops: Vec<Operation>, _durability: Durability) -> AppendFuture {
        if ops.is_empty() {
            return futures_util::future::ready(Err(Error::InvalidArgument("empty batch".into())))
                .boxed();
        }
        let result = self.try_append(ops);
        let mut gate = self.shared.gate.subscribe();
        async move {
            // A closed gate sender cannot happen while `self` lives; treat it as open.
            let _ = gate.wait_for(|open| *open).await;
            result
        }
        .boxed()
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.check_open()?;
        let s = self.stored();
        if from < s.first {
            return Err(Error::InvalidArgument(format!(
                "version {from} was compacted (first readable is {})",
                s.first
            )));
        }
        let start = (from - s.first) as usize;
        Ok(s.entries.iter().skip(start).take(max).cloned().collect())
    }

    fn committed(&self) -> u64 {
        self.shared.committed.get()
    }

    fn first_version(&self) -> u64 {
        self.stored().first
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.check_open()?;
        self.shared.committed.wait_for(after + 1).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.check_open()?;
        let mut s = self.stored();
        if s.snapshot
            .as_ref()
            .is_none_or(|old| old.version <= snapshot.version)
        {
            s.snapshot = Some(snapshot);
        }
        Ok(())
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.check_open()?;
        Ok(self.stored().snapshot.clone())
    }

    async fn compact(&self, through: u64) -> Result<()> {
        self.check_open()?;
        let mut s = self.stored();
        let snap = s.snapshot.as_ref().map_or(0, |s| s.version);
        if through > snap {
            return Err(Error::InvalidArgument(format!(
                "cannot compact through {through}: newest snapshot is at {snap}"
            )));
        }
        if through >= s.first {
            let drop_n = ((through - s.first + 1) as usize).min(s.entries.len());
            s.entries.drain(..drop_n);
            s.first += drop_n as u64;
        }
        Ok(())
    }

    fn role(&self) -> Role {
        match &self.follower_of {
            Some(leader) => Role::Follower {
                leader: leader.clone(),
            },
            None => Role::Leader,
        }
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
