//! [`SimFs`]: a simulated [`Fs`] with crashes that lose or tear unsynced writes, directory
//! entries durable only after `sync_dir`, injectable fsync failures, a full disk and bit flips,
//! all driven by a seeded generator so a seed replays exactly.
//!
//! ```
//! use std::path::Path;
//! use rig_core::seams::Fs;
//! use rig_testkit::simfs::SimFs;
//!
//! let (fs, ctl) = SimFs::new(42);
//! fs.create_dir_all(Path::new("/db")).unwrap();
//! let f = fs.open(Path::new("/db/a"), true).unwrap();
//! f.write_at(b"hello", 0).unwrap();
//! f.sync_data().unwrap();
//! ctl.crash(); // the name "a" was never made durable with sync_dir("/db")
//! assert!(!fs.exists(Path::new("/db/a")).unwrap());
//! ```

mod controller;
mod file;
mod inode;
mod state;

pub use controller::SimFsController;
pub use state::SimFsStats;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rig_core::seams::{Fs, FsFile, FsLock, SeededRand};

use file::{SimFile, SimLock};
use state::{not_found, State};

/// A simulated file system. Clones share the same disk. Directories are durable as soon as they
/// are created; files' names after `sync_dir` of their parent; files' data after `sync_data`.
#[derive(Debug, Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl SimFs {
    /// A fresh, empty disk whose random choices come from `seed`, and its controller.
    pub fn new(seed: u64) -> (Self, SimFsController) {
        Self::with_rand(SeededRand::new(seed))
    }

    /// Like [`new`](SimFs::new), drawing from a generator split off a simulation's.
    pub fn with_rand(rand: SeededRand) -> (Self, SimFsController) {
        let state = Arc::new(Mutex::new(State::new(rand)));
        (
            Self {
                state: Arc::clone(&state),
            },
            SimFsController { state },
        )
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("simfs lock")
    }
}

impl Fs for SimFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FsFile>> {
        let mut state = self.state();
        let ino = state.lookup(path, create)?;
        let generation = state.generation;
        let state = Arc::clone(&self.state);
        Ok(Box::new(SimFile {
            state,
            ino,
            generation,
            path: path.to_path_buf(),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        for dir in path.ancestors() {
            if state.live.contains_key(dir) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: is a file", dir.display()),
                ));
            }
            state.dirs.insert(dir.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let state = self.state();
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        let files = state.live.keys().map(|p| p.as_path());
        let dirs = state.dirs.iter().map(|p| p.as_path());
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter(|p| p.parent() == Some(path) && *p != path)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check_parent(to)?;
        let ino = state.live.remove(from).ok_or_else(|| not_found(from))?;
        state.live.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state
            .live
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.state().sync_dir(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.state();
        Ok(state.live.contains_key(path) || state.dirs.contains(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let mut state = self.state();
        state.lookup(path, true)?;
        if state.locks.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            ));
        }
        let id = state.next_lock;
        state.next_lock += 1;
        state.locks.insert(path.to_path_buf(), id);
        let state = Arc::clone(&self.state);
        Ok(Box::new(SimLock {
            state,
            path: path.to_path_buf(),
            id,
        }))
    }
}

#[cfg(test)]
mod tests;
