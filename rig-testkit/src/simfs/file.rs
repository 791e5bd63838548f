//! [`SimFile`] and [`SimLock`]: handles into a [`super::SimFs`].

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rig_core::seams::{FsFile, FsLock, Rand};

use super::state::State;

/// An open simulated file. Dead (every call fails) after the file system crashes.
#[derive(Debug)]
pub(crate) struct SimFile {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) ino: u64,
    pub(crate) generation: u64,
    pub(crate) path: PathBuf,
}

impl SimFile {
    fn lock(&self) -> io::Result<MutexGuard<'_, State>> {
        let state = self.state.lock().expect("simfs lock");
        if state.generation != self.generation {
            return Err(io::Error::other(format!(
                "{}: handle from before a simulated crash",
                self.path.display()
            )));
        }
        Ok(state)
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut state = self.lock()?;
        let data = state.inodes[&self.ino].current();
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        let rate = state.read_flip_per_million;
        if n > 0 && rate > 0 && state.rand.below(1_000_000) < rate {
            let bit = state.rand.below(n as u64 * 8);
            buf[(bit / 8) as usize] ^= 1 << (bit % 8);
            state.stats.bit_flips += 1;
        }
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut state = self.lock()?;
        if let Some(left) = state.space_left {
            if (buf.len() as u64) > left {
                state.stats.disk_full_errors += 1;
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("{}: no space left on device", self.path.display()),
                ));
            }
            state.space_left = Some(left - buf.len() as u64);
        }
        state
            .inodes
            .get_mut(&self.ino)
            .expect("open inode")
            .write(offset, buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.lock()?;
        let fails = state.inodes[&self.ino].has_pending() && state.sync_fails();
        let State {
            inodes,
            rand,
            stats,
            ..
        } = &mut *state;
        let inode = inodes.get_mut(&self.ino).expect("open inode");
        if fails {
            stats.failed_syncs += 1;
            inode.fail_sync(rand);
            return Err(io::Error::other(format!(
                "{}: injected fsync failure",
                self.path.display()
            )));
        }
        inode.sync();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.lock()?.inodes[&self.ino].current().len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.lock()?
            .inodes
            .get_mut(&self.ino)
            .expect("open inode")
            .set_len(len);
        Ok(())
    }
}

/// A held simulated lock; released on drop or by a crash.
#[derive(Debug)]
pub(crate) struct SimLock {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) path: PathBuf,
    pub(crate) id: u64,
}

impl FsLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut state = self.state.lock().expect("simfs lock");
        if state.locks.get(&self.path) == Some(&self.id) {
            state.locks.remove(&self.path);
        }
    }
}
