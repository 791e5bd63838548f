//! [`MemStorage`]: an in-memory disk that survives a node restart and loses unsynced writes on a
//! simulated crash (tests, benchmarks, the in-process group).

use std::sync::{Arc, Mutex};

use rig_core::{Result, Snapshot};

use super::{Loaded, Storage};
use crate::core::{Entry, HardState, Restored};

#[derive(Debug, Default)]
struct Disk {
    hs: HardState,
    offset: u64,
    offset_term: u64,
    base_version: u64,
    written: Vec<Entry>,
    synced: Vec<Entry>,
    /// `written[..clean]` equals `synced[..clean]`: a sync copies only what changed after it.
    clean: usize,
    snapshot: Option<Snapshot>,
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
    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A power loss: every write since the last sync is gone.
    pub fn crash(&self) {
        let mut d = self.disk();
        d.written = d.synced.clone();
        d.clean = d.written.len();
    }
}

impl Storage for MemStorage {
    fn load(&mut self) -> Result<Loaded> {
        let d = self.disk();
        Ok(Loaded {
            restored: Restored {
                hard_state: d.hs,
                snapshot_index: d.offset,
                snapshot_term: d.offset_term,
                entries: d.written.clone(),
            },
            base_version: d.base_version,
        })
    }

    fn save_hard_state(&mut self, hs: HardState) -> Result<()> {
        self.disk().hs = hs;
        Ok(())
    }

    fn write(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut d = self.disk();
        let keep = (first.index - d.offset - 1) as usize;
        d.written.truncate(keep);
        d.written.extend_from_slice(entries);
        d.clean = d.clean.min(keep);
        Ok(())
    }

    fn sync(&mut self) -> Result<Option<(u64, u64)>> {
        let mut guard = self.disk();
        let d = &mut *guard;
        d.synced.truncate(d.clean);
        d.synced.extend_from_slice(&d.written[d.clean..]);
        d.clean = d.written.len();
        Ok(d.synced.last().map(|e| (e.index, e.term)))
    }

    fn compact(&mut self, through: u64, base_version: u64) -> Result<()> {
        let mut d = self.disk();
        let Some(term) = d.synced.iter().find(|e| e.index == through).map(|e| e.term) else {
            return Ok(());
        };
        let dropped = d.synced.iter().take_while(|e| e.index <= through).count();
        d.synced.drain(..dropped);
        d.written.retain(|e| e.index > through);
        d.clean = d.clean.saturating_sub(dropped);
        d.offset = through;
        d.offset_term = term;
        d.base_version = base_version;
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.disk().snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        Ok(self.disk().snapshot.clone())
    }
}
