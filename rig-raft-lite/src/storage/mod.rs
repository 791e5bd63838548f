//! Local persistence for one Raft node: hard state, log entries, snapshots.
//!
//! Storage calls are synchronous and happen in the driver's critical section, in the order the
//! core asked for them. A failed write or sync poisons the node (it is never retried).

mod fs;
mod mem;
mod members_file;
mod records;
mod snapshot_file;

pub use fs::FsStorage;
pub use mem::MemStorage;
pub use snapshot_file::{decode_snapshot_image, encode_snapshot_image};

use bytes::Bytes;
use rig_core::{Result, Snapshot};

use crate::core::{Entry, HardState, Restored, SnapshotImage, StoredMembership};

/// What a node reloads at start-up.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The core's state (hard state, compaction point, durable entries).
    pub restored: Restored,
    /// The rig version of the last data entry at or below the compaction point.
    pub base_version: u64,
}

/// What [`Storage::install_snapshot`] installed: the image and the engine snapshot in it.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The image (now the node's snapshot file).
    pub image: SnapshotImage,
    /// The engine's snapshot it holds.
    pub snapshot: Snapshot,
}

/// A node's disk.
pub trait Storage: Send + std::fmt::Debug + 'static {
    /// Loads what survived (after a crash: only what was synced), with the snapshot image. A
    /// snapshot beyond the log's compaction point whose last entry the log does not hold (a
    /// crash in the middle of [`install_snapshot`](Storage::install_snapshot)) MUST finish that
    /// install: the log is replaced by the snapshot's end, durably, before this returns.
    fn load(&mut self) -> Result<Loaded>;
    /// Persists the term and vote; MUST be durable (fsync + rename) when this returns.
    fn save_hard_state(&mut self, hs: HardState) -> Result<()>;
    /// Persists the membership; MUST be durable (fsync + rename) when this returns.
    fn save_membership(&mut self, membership: &StoredMembership) -> Result<()>;
    /// Writes `entries`, first dropping every entry at or after `entries[0].index`. Need not be
    /// durable until [`sync`](Storage::sync).
    fn write(&mut self, entries: &[Entry]) -> Result<()>;
    /// Writes `entries` as [`write`](Storage::write) does, given their frames back to back
    /// exactly as the leader's stream carried them (each the entry's log record, chained to the
    /// entry before it). A storage whose log is a file of such records writes `frames`
    /// verbatim (no re-encoding: the file is the replication stream); the default encodes
    /// `entries` again, which gives the same bytes.
    fn write_frames(&mut self, entries: &[Entry], frames: &[u8]) -> Result<()> {
        let _ = frames;
        self.write(entries)
    }
    /// [`write_frames`](Storage::write_frames) given the entries and frames to keep: a storage
    /// that holds entries in memory takes them as they are rather than cloning each one (every
    /// clone is a reference count touched per entry). The default borrows them.
    fn write_frames_owned(&mut self, entries: Vec<Entry>, frames: Bytes) -> Result<()> {
        self.write_frames(&entries, &frames)
    }
    /// Makes every written entry durable; returns the last one's `(index, term)`, if any.
    fn sync(&mut self) -> Result<Option<(u64, u64)>>;
    /// Drops entries through `through` (durable), recording `base_version` for reloads.
    fn compact(&mut self, through: u64, base_version: u64) -> Result<()>;
    /// Stores a snapshot image (see [`encode_snapshot_image`]) durably, with write, fsync and
    /// rename: the previous one stays loadable until this returns.
    fn save_snapshot(&mut self, image: &SnapshotImage) -> Result<()>;
    /// The engine snapshot in the newest durable image.
    fn load_snapshot(&self) -> Result<Option<Snapshot>>;
    /// Writes a chunk of an incoming image at `offset`; offset 0 drops whatever was staged.
    /// Need not be durable, and MUST NOT touch the current snapshot or log.
    fn stage_snapshot(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Verifies the staged image (exactly `total` bytes, checksum); when good, makes it the
    /// durable snapshot, then replaces the log by its end (no entries, compacted through its
    /// index, the base version its version), durably, and returns it. A bad image is dropped
    /// and gives `Ok(None)`.
    fn install_snapshot(&mut self, total: u64) -> Result<Option<Installed>>;
}
