//! [`MemStorage`]: an in-memory disk that survives a node restart and loses unsynced writes on a
//! simulated crash (tests, benchmarks, the in-process group).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rig_core::{Result, Snapshot};

use super::snapshot_file::decode_snapshot_image;
use super::{Installed, Loaded, Storage};
use crate::core::{Entry, HardState, Restored, SnapshotImage, SnapshotMeta, StoredMembership};

/// The written log is `written`; the durable one (what a power loss keeps) is
/// `written[..clean]` followed by `shadow`, the durable entries that later writes replaced.
/// Entries are held once, so a sync costs nothing per entry.
#[derive(Debug, Default)]
struct Disk {
    hs: HardState,
    offset: u64,
    offset_term: u64,
    base_version: u64,
    written: Vec<Entry>,
    clean: usize,
    shadow: Vec<Entry>,
    /// The snapshot image and the engine snapshot in it.
    snapshot: Option<(SnapshotImage, Snapshot)>,
    /// An incoming image (lost on a crash).
    staged: Vec<u8>,
    membership: Option<StoredMembership>,
}

impl Disk {
    fn synced_last(&self) -> Option<&Entry> {
        self.shadow.last().or(self.written[..self.clean].last())
    }

    /// Replaces the log by the end of a snapshot at `meta` (`version` its engine version).
    fn reset_log(&mut self, meta: &SnapshotMeta, version: u64) {
        self.written.clear();
        self.shadow.clear();
        self.clean = 0;
        (self.offset, self.offset_term, self.base_version) = (meta.index, meta.term, version);
    }

    /// Whether the log holds `meta`'s last entry (or is compacted exactly through it).
    fn holds(&self, meta: &SnapshotMeta) -> bool {
        if meta.index == self.offset {
            return meta.term == self.offset_term;
        }
        meta.index > self.offset
            && self
                .written
                .get((meta.index - self.offset - 1) as usize)
                .is_some_and(|e| e.term == meta.term)
    }
}

/// A shareable in-memory disk: clone it to keep it across a node's restart.
///
/// ```
/// use rig_raft_lite::storage::{MemStorage, Storage};
/// use rig_raft_lite::core::Entry;
/// let mut disk = MemStorage::default();
/// disk.write(&[Entry { term: 1, index: 1, data: bytes::Bytes::new() }]).unwrap();
/// disk.crash();
/// assert!(disk.load().unwrap().restored.entries.is_empty(), "unsynced writes are lost");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemStorage(Arc<Mutex<Disk>>);

impl MemStorage {
    /// Writes `entries` (see [`Storage::write`]), keeping them as they are.
    fn write_owned(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first() else {
            return;
        };
        let mut guard = self.disk();
        let d = &mut *guard;
        let keep = (first.index - d.offset - 1) as usize;
        if keep < d.clean {
            // Durable entries about to be replaced: keep them for a power loss.
            let mut replaced = d.written[keep..d.clean].to_vec();
            replaced.append(&mut d.shadow);
            d.shadow = replaced;
            d.clean = keep;
        }
        d.written.truncate(keep);
        d.written.extend(entries);
    }

    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A power loss: every write since the last sync is gone.
    pub fn crash(&self) {
        let mut guard = self.disk();
        let d = &mut *guard;
        d.written.truncate(d.clean);
        d.written.append(&mut d.shadow);
        d.clean = d.written.len();
        d.staged.clear();
    }
}

impl Storage for MemStorage {
    fn load(&mut self) -> Result<Loaded> {
        let mut d = self.disk();
        if let Some((image, snap)) = d.snapshot.clone() {
            if image.meta.index > d.offset && !d.holds(&image.meta) {
                d.reset_log(&image.meta, snap.version);
            }
        }
        Ok(Loaded {
            restored: Restored {
                hard_state: d.hs,
                snapshot_index: d.offset,
                snapshot_term: d.offset_term,
                entries: d.written.clone(),
                membership: d.membership.clone(),
                snapshot: d.snapshot.as_ref().map(|(i, _)| i.clone()),
            },
            base_version: d.base_version,
        })
    }

    fn save_hard_state(&mut self, hs: HardState) -> Result<()> {
        self.disk().hs = hs;
        Ok(())
    }

    fn save_membership(&mut self, membership: &StoredMembership) -> Result<()> {
        self.disk().membership = Some(membership.clone());
        Ok(())
    }

    fn write(&mut self, entries: &[Entry]) -> Result<()> {
        self.write_owned(entries.to_vec());
        Ok(())
    }

    fn write_frames_owned(&mut self, entries: Vec<Entry>, frames: Bytes) -> Result<()> {
        let _ = frames;
        self.write_owned(entries);
        Ok(())
    }

    fn sync(&mut self) -> Result<Option<(u64, u64)>> {
        let mut d = self.disk();
        d.shadow.clear();
        d.clean = d.written.len();
        Ok(d.written.last().map(|e| (e.index, e.term)))
    }

    fn compact(&mut self, through: u64, base_version: u64) -> Result<()> {
        let mut guard = self.disk();
        let d = &mut *guard;
        // Only a durable prefix is compacted (the core compacts what it persisted).
        let durable = through <= d.synced_last().map_or(0, |e| e.index)
            && through > d.offset
            && (through - d.offset) as usize <= d.clean;
        if !durable {
            return Ok(());
        }
        let dropped = (through - d.offset) as usize;
        d.offset_term = d.written[dropped - 1].term;
        d.written.drain(..dropped);
        d.clean -= dropped;
        d.offset = through;
        d.base_version = base_version;
        Ok(())
    }

    fn save_snapshot(&mut self, image: &SnapshotImage) -> Result<()> {
        let (_, snapshot) = decode_snapshot_image(&image.bytes)?;
        self.disk().snapshot = Some((image.clone(), snapshot));
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        Ok(self.disk().snapshot.as_ref().map(|(_, s)| s.clone()))
    }

    fn stage_snapshot(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let mut d = self.disk();
        if offset == 0 {
            d.staged.clear();
        }
        let offset = offset as usize;
        if d.staged.len() < offset + data.len() {
            d.staged.resize(offset + data.len(), 0);
        }
        d.staged[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn install_snapshot(&mut self, total: u64) -> Result<Option<Installed>> {
        let mut guard = self.disk();
        let d = &mut *guard;
        let staged = std::mem::take(&mut d.staged);
        let decoded = (staged.len() as u64 == total)
            .then(|| decode_snapshot_image(&staged).ok())
            .flatten();
        let Some((meta, snapshot)) = decoded else {
            return Ok(None);
        };
        let image = SnapshotImage {
            meta,
            bytes: Bytes::from(staged),
        };
        d.snapshot = Some((image.clone(), snapshot.clone()));
        d.reset_log(&image.meta, snapshot.version);
        Ok(Some(Installed { image, snapshot }))
    }
}
