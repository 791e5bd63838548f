//! [`SimFsController`]: the test's handle for injecting faults into a [`super::SimFs`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rig_core::seams::Rand;

use super::state::{SimFsStats, State};

/// Injects faults into the [`super::SimFs`] it was created with. Clones share the disk.
///
/// ```
/// use std::path::Path;
/// use rig_core::seams::Fs;
/// use rig_testkit::simfs::SimFs;
///
/// let (fs, ctl) = SimFs::new(7);
/// let f = fs.open(Path::new("/log"), true).unwrap();
/// f.write_at(b"acknowledged?", 0).unwrap();
/// ctl.fail_next_syncs(1);
/// assert!(f.sync_data().is_err());
/// // A log that retries the fsync is told "success"; the data may already be gone.
/// assert!(f.sync_data().is_ok());
/// assert_eq!(ctl.stats().failed_syncs, 1);
/// ```
#[derive(Debug, Clone)]
pub struct SimFsController {
    pub(crate) state: Arc<Mutex<State>>,
}

impl SimFsController {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("simfs lock")
    }

    /// Crashes the machine: unsynced writes are kept, dropped or torn at a 512-byte sector
    /// boundary (drawn from the seed); names not made durable by `sync_dir` revert; every open
    /// handle and lock dies.
    pub fn crash(&self) {
        self.state().crash();
    }

    /// Loses the disk: every file and directory is gone.
    pub fn wipe(&self) {
        self.state().wipe();
    }

    /// Makes the next `n` syncs of files with unsynced data fail. A failed sync leaves each
    /// unsynced write either on disk or lost (reads back new or old) and nothing pending, so the
    /// sync after it "succeeds".
    pub fn fail_next_syncs(&self, n: u64) {
        self.state().failing_syncs = n;
    }

    /// Makes each sync of a file with unsynced data fail with probability `per_million`/10^6.
    pub fn set_sync_failure_rate(&self, per_million: u64) {
        self.state().sync_fail_per_million = per_million;
    }

    /// Allows `bytes` more bytes of writes, after which writes fail with `StorageFull`
    /// (ENOSPC); `None` makes the disk unbounded again.
    pub fn set_space_left(&self, bytes: Option<u64>) {
        self.state().space_left = bytes;
    }

    /// Flips one random bit of one random non-empty file at rest. Returns the file and bit.
    pub fn flip_random_bit(&self) -> Option<(PathBuf, u64)> {
        let mut state = self.state();
        let files: Vec<(PathBuf, u64)> = state.live.iter().map(|(p, i)| (p.clone(), *i)).collect();
        if files.is_empty() {
            return None;
        }
        let start = state.rand.below(files.len() as u64) as usize;
        for k in 0..files.len() {
            let (path, ino) = &files[(start + k) % files.len()];
            let State {
                inodes,
                rand,
                stats,
                ..
            } = &mut *state;
            if let Some(bit) = inodes.get_mut(ino).and_then(|i| i.flip_bit(rand)) {
                stats.bit_flips += 1;
                return Some((path.clone(), bit));
            }
        }
        None
    }

    /// Flips a random bit in a read's result with probability `per_million`/10^6.
    pub fn set_read_flip_rate(&self, per_million: u64) {
        self.state().read_flip_per_million = per_million;
    }

    /// Turns every injected fault off (rates, pending failures, the space limit).
    pub fn heal(&self) {
        let mut state = self.state();
        state.failing_syncs = 0;
        state.sync_fail_per_million = 0;
        state.space_left = None;
        state.read_flip_per_million = 0;
    }

    /// What the disk did so far.
    pub fn stats(&self) -> SimFsStats {
        self.state().stats
    }
}
