//! A fault-injecting [`Fs`] around [`StdFs`], controlled through shared flags.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rig_core::seams::{Fs, FsFile, FsLock, StdFs};

/// The switches; clone the `Arc` to flip them while the log runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every write fails with `StorageFull` (after writing nothing).
    pub disk_full: AtomicBool,
    /// Writes to segment files being prepared (`*.seg.tmp`) fail with `StorageFull`.
    pub prealloc_full: AtomicBool,
    /// The next `sync_data` of a segment fails with EIO.
    pub fail_sync: AtomicBool,
    /// The next write to a live segment writes only its first half, then fails with
    /// `StorageFull`.
    pub short_write: AtomicBool,
    /// Counts `sync_data` calls on segment files.
    pub syncs: AtomicUsize,
    /// Paths renamed away: a handle opened under such a path now lives under another name.
    renamed: Mutex<HashSet<PathBuf>>,
}

#[derive(Debug, Clone)]
pub struct FaultFs {
    pub faults: Arc<Faults>,
}

impl FaultFs {
    pub fn create() -> (Arc<dyn Fs>, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        (
            Arc::new(FaultFs {
                faults: faults.clone(),
            }),
            faults,
        )
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn FsFile>,
    faults: Arc<Faults>,
    opened_as: PathBuf,
}

impl FaultFile {
    fn name(&self) -> String {
        self.opened_as.to_string_lossy().into_owned()
    }
    fn segment(&self) -> bool {
        self.name().contains(".seg")
    }
    /// Still a segment being prepared (not yet renamed into place).
    fn preparing(&self) -> bool {
        self.name().ends_with(".seg.tmp")
            && !self
                .faults
                .renamed
                .lock()
                .unwrap()
                .contains(&self.opened_as)
    }
}

fn full() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "no space left on device (injected)",
    )
}

impl FsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let preparing = self.preparing();
        if self.faults.disk_full.load(Ordering::SeqCst)
            || (preparing && self.faults.prealloc_full.load(Ordering::SeqCst))
        {
            return Err(full());
        }
        if self.segment() && !preparing && self.faults.short_write.swap(false, Ordering::SeqCst) {
            self.inner.write_at(&buf[..buf.len() / 2], offset)?;
            return Err(full());
        }
        self.inner.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.segment() {
            self.faults.syncs.fetch_add(1, Ordering::SeqCst);
            if self.faults.fail_sync.swap(false, Ordering::SeqCst) {
                return Err(io::Error::other("injected fsync failure (EIO)"));
            }
        }
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if self.faults.disk_full.load(Ordering::SeqCst) {
            return Err(full());
        }
        self.inner.set_len(len)
    }
}

impl Fs for FaultFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FsFile>> {
        let inner = StdFs.open(path, create)?;
        Ok(Box::new(FaultFile {
            inner,
            faults: self.faults.clone(),
            opened_as: path.to_path_buf(),
        }))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        StdFs.list_dir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)?;
        self.faults
            .renamed
            .lock()
            .unwrap()
            .insert(from.to_path_buf());
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdFs.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        StdFs.lock(path)
    }
}
