//! Local persistence for one Raft node: hard state, log entries, snapshots.
//!
//! Storage calls are synchronous and happen in the driver's critical section, in the order the
//! core asked for them. A failed write or sync poisons the node (it is never retried).

mod fs;
mod mem;
mod members_file;
mod records;

pub use fs::FsStorage;
pub use mem::MemStorage;

use rig_core::{Result, Snapshot};

use crate::core::{Entry, HardState, Restored, StoredMembership};

/// What a node reloads at start-up.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The core's state (hard state, compaction point, durable entries).
    pub restored: Restored,
    /// The rig version of the last data entry at or below the compaction point.
    pub base_version: u64,
}

/// A node's disk.
pub trait Storage: Send + std::fmt::Debug + 'static {
    /// Loads what survived (after a crash: only what was synced).
    fn load(&mut self) -> Result<Loaded>;
    /// Persists the term and vote; MUST be durable (fsync + rename) when this returns.
    fn save_hard_state(&mut self, hs: HardState) -> Result<()>;
    /// Persists the membership; MUST be durable (fsync + rename) when this returns.
    fn save_membership(&mut self, membership: &StoredMembership) -> Result<()>;
    /// Writes `entries`, first dropping every entry at or after `entries[0].index`. Need not be
    /// durable until [`sync`](Storage::sync).
    fn write(&mut self, entries: &[Entry]) -> Result<()>;
    /// Makes every written entry durable; returns the last one's `(index, term)`, if any.
    fn sync(&mut self) -> Result<Option<(u64, u64)>>;
    /// Drops entries through `through` (durable), recording `base_version` for reloads.
    fn compact(&mut self, through: u64, base_version: u64) -> Result<()>;
    /// Stores a snapshot durably (the previous one stays loadable until this returns).
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<()>;
    /// The newest durable snapshot.
    fn load_snapshot(&self) -> Result<Option<Snapshot>>;
}
