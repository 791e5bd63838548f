//! [`FileLog`]: the [`Log`] implementation over segment files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use futures_util::FutureExt;
use rig_core::codec::{self, RECORD_HEADER_LEN};
use rig_core::seams::{Fs, StdFs};
use rig_core::sync::Watermark;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};
use tokio::sync::oneshot;

use crate::errors::{io_err, BACKEND};
use crate::preparer::{free_name, Preparer};
use crate::reader::read_range;
use crate::segment::HEADER_LEN;
use crate::shared::{Pending, Queue, Shared};
use crate::snapshot_store::SnapshotStore;
use crate::{group_commit, recovery, FileLogOptions};

/// The name of the lock file in a log directory.
pub const LOCK_FILE: &str = "LOCK";

/// A durable [`Log`] in a local directory: preallocated, reused segment files, group commit
/// (one fdatasync covers every append waiting for it), snapshots beside the segments.
///
/// Opening scans and verifies every record and repairs a torn tail (see the crate docs). One
/// process at a time may open a directory: a second open fails while the first holds the lock.
///
/// [`Durability::Local`] (the strongest, and the default through the engine) resolves an append
/// after the fdatasync covering it; [`Durability::Applied`] resolves once written to the file,
/// before the sync, so a machine crash (not a process crash) may lose it.
#[derive(Debug)]
pub struct FileLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir` on the real file system. Blocking: from async
    /// code, prefer calling it inside `spawn_blocking` when opening a large log.
    pub fn open(dir: impl AsRef<Path>, options: FileLogOptions) -> Result<Self> {
        Self::open_with_fs(Arc::new(StdFs), dir, options)
    }

    /// Opens the log in `dir` through `fs` (e.g. a fault-injecting or simulated file system).
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        options: FileLogOptions,
    ) -> Result<Self> {
        let dir: PathBuf = dir.as_ref().to_path_buf();
        if options.segment_size < FileLogOptions::MIN_SEGMENT_SIZE {
            return Err(Error::InvalidArgument(format!(
                "segment_size {} is below the minimum {}",
                options.segment_size,
                FileLogOptions::MIN_SEGMENT_SIZE
            )));
        }
        fs.create_dir_all(&dir)
            .map_err(|e| io_err(format!("creating directory {}", dir.display()), e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = fs.lock(&lock_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::Unavailable {
                reason: format!(
                    "log directory {} is already open in another process or handle (locked: {})",
                    dir.display(),
                    lock_path.display()
                ),
            },
            _ => io_err(format!("locking {}", lock_path.display()), e),
        })?;
        let rec = recovery::recover(&*fs, &dir)?;
        let preparer = Preparer::start(
            fs.clone(),
            dir.clone(),
            options.segment_size,
            rec.next_id,
            rec.free,
        );
        let mut segments = rec.segments;
        if segments.is_empty() {
            segments.push(preparer.take()?);
        }
        let snapshots =
            SnapshotStore::new(fs.clone(), dir.clone(), options.keep_snapshots, &rec.names);
        // With every entry compacted into a snapshot, versions continue after the snapshot.
        let committed = rec.last_version.max(snapshots.newest().unwrap_or(0));
        tracing::info!(dir = %dir.display(), committed, segments = segments.len(), "file log opened");
        let shared = Arc::new(Shared {
            fs,
            dir,
            options,
            queue: Mutex::new(Queue {
                batches: Vec::new(),
                next_version: committed + 1,
                closing: false,
                poison: None,
            }),
            queue_cv: Condvar::new(),
            segments: RwLock::new(segments),
            committed: Watermark::new(committed),
            preparer,
            snapshots,
            lock: Mutex::new(Some(lock)),
        });
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("rig-file-log-writer".into())
            .spawn(move || group_commit::run(writer_shared))
            .map_err(|e| io_err("spawning the writer thread", e))?;
        Ok(Self {
            shared,
            writer: Mutex::new(Some(writer)),
            closed: AtomicBool::new(false),
        })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.shared.check_poison()
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.check_open()?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(|e| Error::Backend {
                backend: BACKEND,
                context: "blocking task".into(),
                source: Arc::new(e),
            })?
    }

    fn enqueue(
        &self,
        ops: Vec<Operation>,
        durability: Durability,
    ) -> Result<oneshot::Receiver<Result<u64>>> {
        self.check_open()?;
        if ops.is_empty() {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        // Every record must fit in an empty segment; the 10 bytes cover the largest version varint.
        let room = self.shared.options.segment_size - HEADER_LEN;
        let mut payloads: Vec<LogPayload> = ops
            .into_iter()
            .map(|op| LogPayload { version: 0, op })
            .collect();
        for p in &payloads {
            let len = (RECORD_HEADER_LEN + codec::payload_len(p) + 10) as u64;
            if len > room || len as usize > codec::MAX_RECORD_BODY {
                return Err(Error::InvalidArgument(format!(
                    "operation `{}` of {len} bytes does not fit in a {}-byte segment",
                    p.op.method, self.shared.options.segment_size
                )));
            }
        }
        let durability = durability.min(Durability::Local);
        let (done, rx) = oneshot::channel();
        let mut q = self.shared.queue();
        if let Some(p) = &q.poison {
            return Err(p.clone());
        }
        if q.closing {
            return Err(Error::Closed);
        }
        let first = q.next_version;
        for (p, v) in payloads.iter_mut().zip(first..) {
            p.version = v;
        }
        q.next_version += payloads.len() as u64;
        let wake = q.batches.is_empty();
        q.batches.push(Pending {
            first,
            payloads,
            durability,
            done,
        });
        drop(q);
        if wake {
            self.shared.queue_cv.notify_one();
        }
        Ok(rx)
    }

    /// Stops the writer (after it drained the queue), the preparer, and releases the lock.
    fn shut_down(&self) {
        let writer = self.writer.lock().expect("writer handle lock").take();
        shut_down(&self.shared, writer);
    }
}

/// Blocking: waits for the writer to drain the queue and for a preparation in progress.
fn shut_down(shared: &Shared, writer: Option<JoinHandle<()>>) {
    shared.queue().closing = true;
    shared.queue_cv.notify_all();
    if let Some(w) = writer {
        // A panicked writer dropped its waiters' senders: they already saw `Closed`.
        let _ = w.join();
    }
    shared.preparer.stop();
    shared.committed.poison(Error::Closed);
    shared.lock.lock().expect("lock file lock").take();
}

impl Drop for FileLog {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shut_down();
        }
    }
}

#[async_trait]
impl Log for FileLog {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Local
    }

    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        match self.enqueue(ops, durability) {
            Ok(rx) => rx.map(|r| r.unwrap_or(Err(Error::Closed))).boxed(),
            Err(e) => futures_util::future::ready(Err(e)).boxed(),
        }
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.blocking(move |s| read_range(s, from, max)).await
    }

    fn committed(&self) -> u64 {
        self.shared.committed.get()
    }

    fn first_version(&self) -> u64 {
        self.shared.first_version()
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.check_open()?;
        self.shared.committed.wait_for(after + 1).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.blocking(move |s| s.snapshots.save(&snapshot)).await
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.blocking(|s| s.snapshots.load()).await
    }

    async fn compact(&self, through: u64) -> Result<()> {
        let newest = self.shared.snapshots.newest().unwrap_or(0);
        if through > newest {
            return Err(Error::InvalidArgument(format!(
                "cannot compact through {through}: newest snapshot is at {newest}"
            )));
        }
        self.blocking(move |s| compact(s, through)).await
    }

    fn role(&self) -> Role {
        Role::Leader
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let shared = self.shared.clone();
        let writer = self.writer.lock().expect("writer handle lock").take();
        tokio::task::spawn_blocking(move || shut_down(&shared, writer))
            .await
            .map_err(|e| Error::Backend {
                backend: BACKEND,
                context: "closing".into(),
                source: Arc::new(e),
            })?;
        tracing::info!(dir = %self.shared.dir.display(), "file log closed");
        Ok(())
    }
}

/// Drops whole segments whose entries are all at or below `through`, keeping the last segment
/// that holds data (so the log's end stays known after a restart) and the active one.
fn compact(s: &Shared, through: u64) -> Result<()> {
    let victims = {
        let mut segs = s.segments.write().expect("segments lock");
        let Some(last_data) = segs.iter().rposition(|seg| seg.state().first.is_some()) else {
            return Ok(());
        };
        let n = segs[..last_data]
            .iter()
            .take_while(|seg| {
                let st = seg.state();
                st.first.is_none() || st.last <= through
            })
            .count();
        segs.drain(..n).collect::<Vec<_>>()
    };
    for seg in victims {
        if s.preparer.free_count() < s.options.max_free_segments {
            let to = s.dir.join(free_name(seg.id));
            s.fs.rename(&seg.path, &to).map_err(|e| {
                io_err(format!("moving {} to the free pool", seg.path.display()), e)
            })?;
            s.fs.sync_dir(&s.dir)
                .map_err(|e| io_err(format!("syncing directory {}", s.dir.display()), e))?;
            s.preparer.give_back(to);
        } else {
            s.fs.remove_file(&seg.path)
                .map_err(|e| io_err(format!("removing {}", seg.path.display()), e))?;
            s.fs.sync_dir(&s.dir)
                .map_err(|e| io_err(format!("syncing directory {}", s.dir.display()), e))?;
        }
        tracing::debug!(segment = seg.id, through, "compacted segment");
    }
    Ok(())
}
