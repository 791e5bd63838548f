//! `OneFileLog`: a complete, deliberately small [`Log`] written the way a third party would
//! write one: only against rig-core's public API and its [`Fs`] seam, in about 300 lines. It is
//! the worked example for rig-testkit's "writing a backend" guide, and it passes rig-testkit's
//! whole conformance suite from one macro line (`examples/tests/conformance_one_file_log.rs`).
//!
//! # Design
//! - **One append-only file**, `log`: the magic `RIGTKLG1`, then one rig-core
//!   [`codec`](rig_core::codec) record per entry (salt 0).
//! - **One fsync per append, no group commit.** `append` assigns versions and writes the bytes
//!   at once, in call order; the returned future fsyncs and only then advances `committed`, so a
//!   crash can catch written but unsynced batches (which the simulated disk keeps, drops or tears).
//! - **A failed fsync poisons the log**: every later call fails with a fatal error, because
//!   retrying an fsync can "succeed" over pages the kernel already dropped.
//! - **Recovery**: on open, the first record that does not decode ends the log and the file is
//!   truncated there (a torn tail). A real backend must also tell a torn tail from corruption in
//!   the middle; this one is not tested against bit flips.
//! - **Snapshots** go to `snapshot.tmp`, are fsynced and renamed over `snapshot`, then the
//!   directory is fsynced. **Compaction** is lazy: the contract allows keeping everything.
//! - **A fault point**: [`rig_core::buggify!`] refuses an append now and then under simulation,
//!   so the engine's handling of a definitely-failed append is exercised by every seed set.
//!
//! # Using it
//! Production code passes `rig_core::seams::StdFs`; tests pass rig-testkit's simulated disk,
//! whose controller can crash the machine between a write and its fsync:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::path::Path;
//! use std::sync::Arc;
//! use rig_core::{Durability, Log, Operation};
//! use rig_examples::one_file_log::OneFileLog;
//! use rig_testkit::simfs::SimFs;
//!
//! let (fs, disk) = SimFs::new(1);
//! let log = OneFileLog::open(Arc::new(fs.clone()), Path::new("/data")).unwrap();
//! let v = log.append(vec![Operation::new("put", "x=1")], Durability::Local).await.unwrap();
//! assert_eq!(v, 1);
//! drop(log);
//! disk.crash(); // the append was fsynced before it was acknowledged: it survives
//! let log = OneFileLog::open(Arc::new(fs), Path::new("/data")).unwrap();
//! assert_eq!(log.read(1, 10).await.unwrap().len(), 1);
//! # });
//! ```

use std::future::ready;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use rig_core::codec::{decode_record, encode_record, RecordRead};
use rig_core::seams::{Fs, FsFile, FsLock};
use rig_core::{async_trait, AppendFuture, Durability, Error, Log, LogPayload, Operation, Result};
use rig_core::{Role, Snapshot};
use tokio::sync::watch;

const NAME: &str = "one-file-log";
const MAGIC: &[u8; 8] = b"RIGTKLG1";
const SNAP_MAGIC: &[u8; 8] = b"RIGTKSN1";

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::io(NAME, context, e)
}

#[derive(Debug)]
struct Inner {
    file: Box<dyn FsFile>,
    end: u64,
    entries: Vec<LogPayload>,
    poisoned: Option<String>,
}

/// The log: one append-only file in a directory, through the [`Fs`] seam. See the
/// [module docs](self).
#[derive(Debug)]
pub struct OneFileLog {
    shared: Arc<Shared>,
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    lock: Mutex<Option<Box<dyn FsLock>>>,
}

/// What append futures need after `append` returns.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    committed: watch::Sender<u64>,
    closed: AtomicBool,
}

impl OneFileLog {
    /// Opens (creating if needed) the log in `dir`, repairing a torn tail.
    pub fn open(fs: Arc<dyn Fs>, dir: &Path) -> Result<Self> {
        fs.create_dir_all(dir)
            .map_err(io(format!("create {}", dir.display())))?;
        let lock = fs.lock(&dir.join("LOCK")).map_err(io("lock"))?;
        let path = dir.join("log");
        let file = fs.open(&path, true).map_err(io("open log"))?;
        let len = file.len().map_err(io("log length"))?;
        if len < MAGIC.len() as u64 {
            file.set_len(0).map_err(io("reset log"))?;
            file.write_at(MAGIC, 0).map_err(io("write header"))?;
            file.sync_all().map_err(io("sync header"))?;
            fs.sync_dir(dir).map_err(io("sync dir"))?;
        }
        let mut buf = vec![0; file.len().map_err(io("log length"))? as usize];
        file.read_exact_at(&mut buf, 0).map_err(io("read log"))?;
        if &buf[..8] != MAGIC {
            return Err(Error::corrupt(path.display().to_string(), "bad magic"));
        }
        let (mut entries, mut at) = (Vec::new(), 8);
        while let RecordRead::Record { payload, len } = decode_record(&buf[at..], 0) {
            if payload.version != entries.len() as u64 + 1 {
                return Err(Error::corrupt(
                    format!("{}@{at}", path.display()),
                    "version gap",
                ));
            }
            entries.push(payload);
            at += len;
        }
        if at < buf.len() {
            file.set_len(at as u64).map_err(io("truncate torn tail"))?;
            file.sync_all().map_err(io("sync truncation"))?;
        }
        let committed = watch::Sender::new(entries.len() as u64);
        let inner = Inner {
            file,
            end: at as u64,
            entries,
            poisoned: None,
        };
        let shared = Shared {
            inner: Mutex::new(inner),
            committed,
            closed: AtomicBool::new(false),
        };
        Ok(Self {
            shared: Arc::new(shared),
            fs,
            dir: dir.to_path_buf(),
            lock: Mutex::new(Some(lock)),
        })
    }

    /// True once a failed fsync stopped the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.inner.lock().unwrap().poisoned.is_some()
    }

    fn check(&self) -> Result<()> {
        self.shared.check(&self.shared.inner.lock().unwrap())
    }

    fn snapshot_path(&self, tmp: bool) -> PathBuf {
        self.dir.join(if tmp { "snapshot.tmp" } else { "snapshot" })
    }
}

impl Shared {
    fn check(&self, inner: &Inner) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        match &inner.poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Writes a batch at the end of the file (not yet durable) and returns its last version.
    fn write(&self, ops: Vec<Operation>) -> Result<u64> {
        let mut inner = self.inner.lock().unwrap();
        self.check(&inner)?;
        let first = inner.entries.len() as u64 + 1;
        let payloads: Vec<LogPayload> = ops
            .into_iter()
            .zip(first..)
            .map(|(op, version)| LogPayload { version, op })
            .collect();
        let mut buf = BytesMut::new();
        for p in &payloads {
            encode_record(p, 0, &mut buf);
        }
        let end = inner.end;
        if let Err(e) = inner.file.write_at(&buf, end) {
            // Nothing was acknowledged; cut off whatever part landed so the next append reuses
            // the space. If even that fails, stop.
            if let Err(e2) = inner.file.set_len(end) {
                inner.poisoned = Some(format!("truncate after a failed write: {e2}"));
            }
            return Err(Error::Unavailable {
                reason: format!("{NAME}: write failed: {e}"),
            });
        }
        inner.end += buf.len() as u64;
        inner.entries.extend(payloads);
        Ok(inner.entries.len() as u64)
    }

    /// Makes everything written durable (one fsync may cover several batches) and commits
    /// through `last`.
    fn sync(&self, last: u64) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        self.check(&inner)?;
        if *self.committed.borrow() >= last {
            return Ok(());
        }
        if let Err(e) = inner.file.sync_data() {
            // Never retried: the pages' state is unknown.
            inner.poisoned = Some(format!("fsync failed: {e}"));
            return Err(Error::io(NAME, "fsync log", e));
        }
        let written = inner.entries.len() as u64;
        drop(inner);
        self.committed.send_replace(written);
        Ok(())
    }
}

#[async_trait]
impl Log for OneFileLog {
    fn name(&self) -> &'static str {
        NAME
    }
    fn strongest_durability(&self) -> Durability {
        Durability::Local
    }
    fn append(&self, ops: Vec<Operation>, _durability: Durability) -> AppendFuture {
        if ops.is_empty() {
            return Box::pin(ready(Err(Error::InvalidArgument("empty batch".into()))));
        }
        // A fault point: under simulation the log sometimes refuses a batch before writing
        // anything (a transient shortage); the caller sees a definite failure.
        if rig_core::buggify!() {
            return Box::pin(ready(Err(Error::Unavailable {
                reason: "buggify: append refused before the write".into(),
            })));
        }
        let n = ops.len() as u64;
        let shared = Arc::clone(&self.shared);
        // Versions are assigned and bytes written now, in call order; the fsync happens when
        // the future runs, so a crash can catch written but unsynced batches.
        match shared.write(ops) {
            Err(e) => Box::pin(ready(Err(e))),
            Ok(last) => Box::pin(async move {
                // fsync latency: the window in which a crash finds written, unsynced batches.
                tokio::time::sleep(std::time::Duration::from_micros(1500)).await;
                shared.sync(last).map(|()| last + 1 - n)
            }),
        }
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        let inner = self.shared.inner.lock().unwrap();
        self.shared.check(&inner)?;
        if from == 0 {
            return Err(Error::InvalidArgument("version 0 does not exist".into()));
        }
        let committed = *self.shared.committed.borrow() as usize;
        let readable = &inner.entries[..committed];
        Ok(readable
            .iter()
            .skip(from as usize - 1)
            .take(max)
            .cloned()
            .collect())
    }
    fn committed(&self) -> u64 {
        *self.shared.committed.borrow()
    }
    fn first_version(&self) -> u64 {
        1
    }
    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.check()?;
        let mut rx = self.shared.committed.subscribe();
        let v = rx
            .wait_for(|c| *c > after)
            .await
            .map_err(|_| Error::Closed)?;
        Ok(*v)
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.check()?;
        let mut body = SNAP_MAGIC.to_vec();
        body.extend_from_slice(&snapshot.version.to_le_bytes());
        body.extend_from_slice(&crc32c(&snapshot.data).to_le_bytes());
        body.extend_from_slice(&snapshot.data);
        let (tmp, path) = (self.snapshot_path(true), self.snapshot_path(false));
        let file = self.fs.open(&tmp, true).map_err(io("open snapshot.tmp"))?;
        file.set_len(0).map_err(io("truncate snapshot.tmp"))?;
        file.write_at(&body, 0).map_err(io("write snapshot.tmp"))?;
        file.sync_all().map_err(io("sync snapshot.tmp"))?;
        self.fs.rename(&tmp, &path).map_err(io("rename snapshot"))?;
        self.fs.sync_dir(&self.dir).map_err(io("sync dir"))
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.check()?;
        let path = self.snapshot_path(false);
        if !self.fs.exists(&path).map_err(io("stat snapshot"))? {
            return Ok(None);
        }
        let file = self.fs.open(&path, false).map_err(io("open snapshot"))?;
        let mut buf = vec![0; file.len().map_err(io("snapshot length"))? as usize];
        file.read_exact_at(&mut buf, 0)
            .map_err(io("read snapshot"))?;
        let bad = |why| Error::corrupt(path.display().to_string(), why);
        if buf.len() < 20 || &buf[..8] != SNAP_MAGIC {
            return Err(bad("bad snapshot header"));
        }
        let version = u64::from_le_bytes(buf[8..16].try_into().unwrap());
        let crc = u32::from_le_bytes(buf[16..20].try_into().unwrap());
        let data = bytes::Bytes::copy_from_slice(&buf[20..]);
        if crc32c(&data) != crc {
            return Err(bad("snapshot checksum mismatch"));
        }
        Ok(Some(Snapshot { version, data }))
    }
    async fn compact(&self, _through: u64) -> Result<()> {
        // Lazy compaction: the contract allows keeping everything.
        self.check()
    }
    fn role(&self) -> Role {
        Role::Leader
    }
    async fn close(&self) -> Result<()> {
        self.shared.closed.store(true, Ordering::Release);
        self.lock.lock().unwrap().take();
        Ok(())
    }
}

/// CRC-32C (Castagnoli), bitwise: small and dependency-free, fine for an example.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
