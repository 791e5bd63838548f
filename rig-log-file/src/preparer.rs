//! The preparer thread: keeps one spare segment ready (zero-filled, header written, synced, named,
//! directory synced) so that the writer rolls to a new segment without waiting for the disk.
//!
//! Compacted segment files go to a free pool and are reused before new files are created: an
//! overwritten, already-allocated file is cheaper per fdatasync than a growing one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rig_core::seams::Fs;
use rig_core::Error;

use crate::errors::io_err;
use crate::segment::{self, SegState, Segment};

/// The name a compacted segment file waits under until it is reused.
pub(crate) fn free_name(id: u64) -> String {
    format!("free-{id:020}.seg")
}

/// The id in a free-pool file name.
pub(crate) fn parse_free_name(name: &str) -> Option<u64> {
    segment::parse_name(name.strip_prefix("free-")?)
}

/// The temporary name of a segment being prepared.
pub(crate) fn tmp_name(id: u64) -> String {
    format!("{id:020}.seg.tmp")
}

#[derive(Debug, Default)]
struct Slot {
    ready: Option<Result<Arc<Segment>, Error>>,
    requested: bool,
    stop: bool,
}

#[derive(Debug)]
struct Inner {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    segment_size: u64,
    next_id: AtomicU64,
    free: Mutex<Vec<PathBuf>>,
    slot: Mutex<Slot>,
    cv: Condvar,
}

/// Handle on the preparer thread.
#[derive(Debug)]
pub(crate) struct Preparer {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Preparer {
    /// Starts the thread; new segments get ids from `next_id` on, reusing files in `free` first.
    pub(crate) fn start(
        fs: Arc<dyn Fs>,
        dir: PathBuf,
        segment_size: u64,
        next_id: u64,
        free: Vec<PathBuf>,
    ) -> Self {
        let inner = Arc::new(Inner {
            fs,
            dir,
            segment_size,
            next_id: AtomicU64::new(next_id),
            free: Mutex::new(free),
            slot: Mutex::new(Slot {
                requested: true,
                ..Slot::default()
            }),
            cv: Condvar::new(),
        });
        let thread_inner = inner.clone();
        let thread = std::thread::Builder::new()
            .name("rig-file-log-prep".into())
            .spawn(move || thread_inner.run())
            .expect("spawn the segment preparer thread");
        Self {
            inner,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Asks for a spare segment ahead of need (the writer does when its segment is half full),
    /// so that preallocation I/O runs once per segment, in the background, and not at open.
    pub(crate) fn request(&self) {
        let mut slot = self.inner.slot.lock().expect("preparer lock");
        if slot.ready.as_ref().is_some_and(Result::is_err) {
            // A stale failure (e.g. a disk that was full): try afresh.
            slot.ready = None;
        }
        if slot.ready.is_none() && !slot.requested {
            slot.requested = true;
            self.inner.cv.notify_all();
        }
    }

    /// Takes the spare segment, waiting for it if needed. After an error nothing is prepared
    /// ahead: the next call tries afresh (e.g. once disk space is freed).
    pub(crate) fn take(&self) -> Result<Arc<Segment>, Error> {
        let mut slot = self.inner.slot.lock().expect("preparer lock");
        if slot.ready.is_none() {
            slot.requested = true;
            self.inner.cv.notify_all();
            while slot.ready.is_none() {
                slot = self.inner.cv.wait(slot).expect("preparer lock");
            }
        }
        slot.ready.take().expect("checked above")
    }

    /// Gives a compacted segment file (already renamed to its free name) back for reuse.
    pub(crate) fn give_back(&self, path: PathBuf) {
        self.inner.free.lock().expect("free pool lock").push(path);
    }

    /// How many files wait in the free pool.
    pub(crate) fn free_count(&self) -> usize {
        self.inner.free.lock().expect("free pool lock").len()
    }

    /// Stops the thread and waits for it. A prepared spare stays on disk (recovery reuses it).
    pub(crate) fn stop(&self) {
        self.inner.slot.lock().expect("preparer lock").stop = true;
        self.inner.cv.notify_all();
        if let Some(t) = self.thread.lock().expect("preparer thread lock").take() {
            // A panicked preparer has already failed its waiters; nothing more to report here.
            let _ = t.join();
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn run(&self) {
        loop {
            {
                let mut slot = self.slot.lock().expect("preparer lock");
                while !(slot.stop || (slot.requested && slot.ready.is_none())) {
                    slot = self.cv.wait(slot).expect("preparer lock");
                }
                if slot.stop {
                    return;
                }
                slot.requested = false;
            }
            // No lock is held while the disk works.
            let prepared = self.prepare_one();
            if let Err(e) = &prepared {
                tracing::warn!(error = %e, "preparing a log segment failed");
            }
            self.slot.lock().expect("preparer lock").ready = Some(prepared);
            self.cv.notify_all();
        }
    }

    fn prepare_one(&self) -> Result<Arc<Segment>, Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(tmp_name(id));
        let result = self.prepare_at(id, &tmp);
        if result.is_err() {
            // Best effort: a leftover temporary file is removed at the next open anyway.
            let _ = self.fs.remove_file(&tmp);
        }
        result
    }

    fn prepare_at(&self, id: u64, tmp: &Path) -> Result<Arc<Segment>, Error> {
        let fs = &*self.fs;
        let reused = self.free.lock().expect("free pool lock").pop();
        let file = match &reused {
            Some(free) => {
                fs.rename(free, tmp).map_err(|e| {
                    io_err(
                        format!("renaming {} to {}", free.display(), tmp.display()),
                        e,
                    )
                })?;
                fs.open(tmp, false)
                    .map_err(|e| io_err(format!("opening {}", tmp.display()), e))?
            }
            None => fs
                .open(tmp, true)
                .map_err(|e| io_err(format!("creating {}", tmp.display()), e))?,
        };
        let size = self.segment_size;
        // Zero-fill through the seam so every block is allocated and written now: later
        // fdatasyncs then flush data only, not allocation metadata.
        segment::zero_range(&*file, 0, size)
            .map_err(|e| io_err(format!("preallocating {}", tmp.display()), e))?;
        if file
            .len()
            .map_err(|e| io_err(format!("reading the length of {}", tmp.display()), e))?
            != size
        {
            file.set_len(size)
                .map_err(|e| io_err(format!("resizing {}", tmp.display()), e))?;
        }
        file.write_at(&segment::encode_header(id), 0)
            .map_err(|e| io_err(format!("writing the header of {}", tmp.display()), e))?;
        file.sync_all()
            .map_err(|e| io_err(format!("syncing {}", tmp.display()), e))?;
        let path = self.dir.join(segment::file_name(id));
        fs.rename(tmp, &path).map_err(|e| {
            io_err(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })?;
        fs.sync_dir(&self.dir)
            .map_err(|e| io_err(format!("syncing directory {}", self.dir.display()), e))?;
        Ok(Arc::new(Segment::new(
            id,
            path,
            Arc::from(file),
            size,
            SegState::empty(),
        )))
    }
}
