//! The simulated file system's shared state: namespaces, inodes, locks and fault settings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use rig_core::seams::SeededRand;

use super::inode::{Fate, Inode};

/// Counters of what the simulated disk did, for coverage probes and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimFsStats {
    /// Crashes simulated.
    pub crashes: u64,
    /// Unsynced writes kept whole by a crash.
    pub kept_writes: u64,
    /// Unsynced writes lost by a crash.
    pub dropped_writes: u64,
    /// Unsynced writes torn at a sector boundary by a crash.
    pub torn_writes: u64,
    /// Syncs that failed by injection.
    pub failed_syncs: u64,
    /// Writes refused because the disk was full.
    pub disk_full_errors: u64,
    /// Bits flipped at rest or on read.
    pub bit_flips: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) rand: SeededRand,
    /// Bumped by every crash: handles from an older generation are dead.
    pub(crate) generation: u64,
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Path → inode as readers see it now.
    pub(crate) live: BTreeMap<PathBuf, u64>,
    /// Path → inode as it would be after a crash.
    pub(crate) durable: BTreeMap<PathBuf, u64>,
    pub(crate) inodes: HashMap<u64, Inode>,
    pub(crate) next_inode: u64,
    pub(crate) locks: BTreeMap<PathBuf, u64>,
    pub(crate) next_lock: u64,
    /// Injected faults.
    pub(crate) failing_syncs: u64,
    pub(crate) sync_fail_per_million: u64,
    pub(crate) space_left: Option<u64>,
    pub(crate) read_flip_per_million: u64,
    pub(crate) stats: SimFsStats,
}

pub(crate) fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl State {
    pub(crate) fn new(rand: SeededRand) -> Self {
        Self {
            rand,
            generation: 0,
            dirs: BTreeSet::from([PathBuf::new(), PathBuf::from("/")]),
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            inodes: HashMap::new(),
            next_inode: 1,
            locks: BTreeMap::new(),
            next_lock: 1,
            failing_syncs: 0,
            sync_fail_per_million: 0,
            space_left: None,
            read_flip_per_million: 0,
            stats: SimFsStats::default(),
        }
    }

    pub(crate) fn check_parent(&self, path: &Path) -> io::Result<()> {
        if self.dirs.contains(&parent(path)) {
            Ok(())
        } else {
            Err(not_found(&parent(path)))
        }
    }

    /// The inode at `path`, created (empty, not yet durable by name) when `create`.
    pub(crate) fn lookup(&mut self, path: &Path, create: bool) -> io::Result<u64> {
        if let Some(&ino) = self.live.get(path) {
            return Ok(ino);
        }
        if !create {
            return Err(not_found(path));
        }
        self.check_parent(path)?;
        let ino = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(ino, Inode::default());
        self.live.insert(path.to_path_buf(), ino);
        Ok(ino)
    }

    /// Makes the entries of directory `dir` durable as they are now.
    pub(crate) fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        if !self.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        self.durable.retain(|p, _| parent(p) != dir);
        for (p, ino) in &self.live {
            if parent(p) == dir {
                self.durable.insert(p.clone(), *ino);
            }
        }
        Ok(())
    }

    /// Decides whether this sync fails by injection.
    pub(crate) fn sync_fails(&mut self) -> bool {
        use rig_core::seams::Rand;
        if self.failing_syncs > 0 {
            self.failing_syncs -= 1;
            return true;
        }
        self.sync_fail_per_million > 0 && self.rand.below(1_000_000) < self.sync_fail_per_million
    }

    /// A machine crash: names revert to their durable entries, file data to its durable image
    /// with unsynced writes kept, dropped or torn; handles and locks die.
    pub(crate) fn crash(&mut self) {
        self.generation += 1;
        self.stats.crashes += 1;
        self.locks.clear();
        self.live = self.durable.clone();
        let reachable: BTreeSet<u64> = self.durable.values().copied().collect();
        self.inodes.retain(|ino, _| reachable.contains(ino));
        let mut fates = Vec::new();
        let mut inos: Vec<u64> = self.inodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let inode = self.inodes.get_mut(&ino).expect("inode listed");
            inode.crash(&self.rand, &mut fates);
        }
        for fate in fates {
            match fate {
                Fate::Kept => self.stats.kept_writes += 1,
                Fate::Dropped => self.stats.dropped_writes += 1,
                Fate::Torn => self.stats.torn_writes += 1,
            }
        }
    }

    /// A lost disk: every file and directory is gone (the root stays).
    pub(crate) fn wipe(&mut self) {
        self.generation += 1;
        self.locks.clear();
        self.live.clear();
        self.durable.clear();
        self.inodes.clear();
        self.dirs = BTreeSet::from([PathBuf::new(), PathBuf::from("/")]);
    }
}
