//! [`LocalDirStore`]: the S3 log's layout on a local directory, fenced by an OS lock file.
//!
//! S3 fences two writers with conditional writes; object_store's `LocalFileSystem` has only
//! create-if-absent (a hard link) and no compare-and-swap (`PutMode::Update`). On one machine an
//! exclusive lock on a file in the directory does the fencing instead: the writer takes it at
//! open and keeps it for its life, so it is the only process that changes the directory, and a
//! compare-and-swap becomes "compare the e-tag, then replace", serialized inside the process.
//!
//! Durability: every PUT goes through `LocalFileSystem` with fsync on, which writes a staging
//! file, `fsync`s it, publishes it with a hard link (create-if-absent) or a rename (replace),
//! then `fsync`s the parent directory (and any directory it had to create, up to the first one
//! that existed). It does not sync deletes, so this store `fsync`s the parent directory after
//! each delete itself. Every acknowledged batch, snapshot, `LATEST` and `WRITER` is therefore on
//! stable storage before the call returns. A failed write or fsync poisons the store: it is
//! never retried, and nothing is read back from a directory whose state is unknown.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UpdateVersion,
};
use rig_core::seams::{Fs, FsLock, StdFs};
use rig_core::{Error, Result};
use tokio::sync::{Mutex, OwnedRwLockReadGuard, RwLock};

use crate::io::BACKEND;

/// The lock file a writer holds in the directory (next to the log's objects, outside the prefix
/// layout: its name is not a log key).
pub const LOCAL_LOCK_FILE: &str = "rig-s3-writer.lock";

const STORE_NAME: &str = "LocalDirStore";

/// An [`ObjectStore`] on a local directory for the S3 log: a writer holds an exclusive OS lock
/// on [`LOCAL_LOCK_FILE`] for its life; a reader takes no lock and never writes.
///
/// Open the log with [`S3Log::open_local`](crate::S3Log::open_local) (a writer) or
/// [`S3Log::open_local_follower`](crate::S3Log::open_local_follower) (a read replica); both
/// build this store. A second writer on the same directory, in another process or in this one,
/// fails at open with [`Error::Unavailable`] naming the directory. See the module source for
/// what is fsynced.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rig_log_s3::LocalDirStore;
/// let dir = std::env::temp_dir().join(format!("rig-doc-local-{}", std::process::id()));
/// let writer = LocalDirStore::open_writer(&dir)?;
/// let again = LocalDirStore::open_writer(&dir).unwrap_err();
/// assert!(again.to_string().contains("another process"));
/// writer.release().await;
/// let _reader = LocalDirStore::open_reader(&dir)?; // no lock needed
/// # Ok::<(), rig_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct LocalDirStore {
    shared: Arc<Shared>,
}

struct Shared {
    files: LocalFileSystem,
    dir: PathBuf,
    /// `None` for a reader.
    writer: Option<Writer>,
    /// Set by the first failed write or fsync: the directory's state is unknown from then on
    /// (a failed fsync is never retried), so every call fails until a restart recovers.
    poison: std::sync::Mutex<Option<String>>,
}

struct Writer {
    /// The OS lock; `None` once released. Every change to the directory holds a read guard
    /// while it runs, so `release` waits for changes in flight and none starts after it.
    lock: Arc<RwLock<Option<Box<dyn FsLock>>>>,
    /// Serializes the compare-then-replace of emulated conditional updates with deletes and
    /// copies: with the lock no other process changes the directory, this covers this one.
    replace: Arc<Mutex<()>>,
}

impl fmt::Debug for LocalDirStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalDirStore")
            .field("dir", &self.shared.dir)
            .field("writer", &self.shared.writer.is_some())
            .finish()
    }
}

impl fmt::Display for LocalDirStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.shared.writer.is_some() {
            "writer"
        } else {
            "reader"
        };
        write!(f, "{STORE_NAME}({}, {role})", self.shared.dir.display())
    }
}

impl LocalDirStore {
    /// Opens `dir` (created if absent) as its only writer: takes the exclusive lock on
    /// [`LOCAL_LOCK_FILE`], held until [`release`](Self::release) or until the last clone of
    /// this store is dropped (or the process dies). Blocking (a few file system calls).
    ///
    /// Another holder of the lock, in another process or in this one, makes this fail with
    /// [`Error::Unavailable`] naming the directory.
    pub fn open_writer(dir: impl AsRef<FsPath>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let fs = StdFs;
        fs.create_dir_all(&dir)
            .map_err(|e| io(format!("create the directory {}", dir.display()), e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The directory may be new: make its entry durable before anything is acknowledged.
            fs.sync_dir(parent)
                .map_err(|e| io(format!("sync {}", parent.display()), e))?;
        }
        let lock_path = dir.join(LOCAL_LOCK_FILE);
        let lock = fs.lock(&lock_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::Unavailable {
                reason: format!(
                    "the S3 log directory {} is held by another writer (another process, or \
                     another handle in this one, holds the lock {}); one writer per directory, \
                     readers need no lock",
                    dir.display(),
                    lock_path.display()
                ),
            },
            _ => io(format!("lock {}", lock_path.display()), e),
        })?;
        let files = files(&dir)?;
        tracing::info!(dir = %dir.display(), "s3-log: local directory locked for writing");
        Ok(Self {
            shared: Arc::new(Shared {
                files,
                dir,
                writer: Some(Writer {
                    lock: Arc::new(RwLock::new(Some(lock))),
                    replace: Arc::new(Mutex::new(())),
                }),
                poison: std::sync::Mutex::new(None),
            }),
        })
    }

    /// Opens `dir` for reading only (followers, verification): no lock; every write fails.
    /// The directory must exist.
    pub fn open_reader(dir: impl AsRef<FsPath>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let exists = StdFs
            .exists(&dir)
            .map_err(|e| io(format!("look up {}", dir.display()), e))?;
        if !exists {
            return Err(Error::InvalidArgument(format!(
                "the S3 log directory {} does not exist",
                dir.display()
            )));
        }
        Ok(Self {
            shared: Arc::new(Shared {
                files: files(&dir)?,
                dir,
                writer: None,
                poison: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &FsPath {
        &self.shared.dir
    }

    /// True while this store holds the writer lock.
    pub async fn holds_lock(&self) -> bool {
        match &self.shared.writer {
            Some(w) => w.lock.read().await.is_some(),
            None => false,
        }
    }

    /// Gives up the writer lock once the changes in flight finish; every later write fails.
    /// [`S3Log::close`](rig_core::Log::close) calls this after its last batch is durable. A no-op
    /// on a reader or when already released.
    pub async fn release(&self) {
        if let Some(w) = &self.shared.writer {
            if w.lock.write().await.take().is_some() {
                tracing::info!(dir = %self.shared.dir.display(), "s3-log: local directory lock released");
            }
        }
    }

    /// Waits out a release: a read guard that proves the lock is still held, or the error a
    /// reader or a released writer gets for a write.
    async fn gate(
        &self,
        what: &str,
        path: &Path,
    ) -> object_store::Result<OwnedRwLockReadGuard<Option<Box<dyn FsLock>>>> {
        let Some(w) = &self.shared.writer else {
            return Err(refused(format!(
                "{what} {path}: {} was opened for reading only",
                self.shared.dir.display()
            )));
        };
        let guard = Arc::clone(&w.lock).read_owned().await;
        if guard.is_none() {
            return Err(refused(format!(
                "{what} {path}: the writer released the lock on {}",
                self.shared.dir.display()
            )));
        }
        Ok(guard)
    }

    /// Fails every call once a write or fsync failed (see [`Self::poison_on`]).
    fn check_poison(&self) -> object_store::Result<()> {
        match &*self.shared.poison.lock().expect("poison lock") {
            None => Ok(()),
            Some(why) => Err(object_store::Error::Generic {
                store: STORE_NAME,
                source: why.clone().into(),
            }),
        }
    }

    /// Passes a change's result through, poisoning the store on any failure other than a lost
    /// condition. The failure may be a failed fsync: the kernel may have dropped the dirty
    /// pages, and reading the object back could "prove" a write that a power loss undoes. So
    /// nothing more is read or written here (the log's writer then fails with `OutcomeUnknown`,
    /// never an acknowledgment); a restart recovers from what is on disk.
    fn poison_on<T>(&self, result: object_store::Result<T>) -> object_store::Result<T> {
        match result {
            Err(e) if !is_lost_condition(&e) => {
                let why = format!(
                    "a write in {} failed ({e}); its durability is unknown, so this writer stops \
                     (reopen the log to recover)",
                    self.shared.dir.display()
                );
                tracing::error!(dir = %self.shared.dir.display(), error = %e, "s3-log: local write failed; store poisoned");
                self.shared
                    .poison
                    .lock()
                    .expect("poison lock")
                    .get_or_insert(why);
                Err(e)
            }
            other => other,
        }
    }

    fn replace_lock(&self) -> Arc<Mutex<()>> {
        let w = self.shared.writer.as_ref().expect("gate checked: a writer");
        Arc::clone(&w.replace)
    }

    /// `PutMode::Update` under the lock: replace only if the object still has the e-tag the
    /// caller read. No other process writes, and this process serializes replacements.
    async fn put_if_unchanged(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
        expected: UpdateVersion,
    ) -> object_store::Result<PutResult> {
        let replace = self.replace_lock();
        let _serial = replace.lock().await;
        let current = match self.shared.files.head(location).await {
            Ok(meta) => meta.e_tag,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(precondition(location, "the object does not exist"))
            }
            Err(e) => return Err(e),
        };
        if current.is_none() || current != expected.e_tag {
            return Err(precondition(
                location,
                "the object changed since it was read",
            ));
        }
        let opts = PutOptions {
            mode: PutMode::Overwrite,
            ..opts
        };
        self.poison_on(self.shared.files.put_opts(location, payload, opts).await)
    }

    /// Deletes one object and makes the removal durable (`LocalFileSystem` does not sync deletes).
    async fn delete_synced(self, location: Path) -> object_store::Result<Path> {
        let _gate = self.gate("delete", &location).await?;
        let replace = self.replace_lock();
        let _serial = replace.lock().await;
        self.check_poison()?;
        match self.shared.files.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return self.poison_on(Err(e)),
        }
        let file = self.shared.files.path_to_filesystem(&location)?;
        let parent = file.parent().map(FsPath::to_path_buf);
        if let Some(parent) = parent {
            let synced = tokio::task::spawn_blocking(move || StdFs.sync_dir(&parent)).await?;
            self.poison_on(synced.map_err(|e| object_store::Error::Generic {
                store: STORE_NAME,
                source: format!("sync the directory of {location}: {e}").into(),
            }))?;
        }
        Ok(location)
    }
}

/// Runs a blocking open (a few file system calls) off the async worker threads.
pub(crate) async fn off_thread<T: Send + 'static>(
    open: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(open)
        .await
        .map_err(|e| Error::Backend {
            backend: BACKEND,
            context: "open the local directory".into(),
            source: Arc::new(e),
        })?
}

fn files(dir: &FsPath) -> Result<LocalFileSystem> {
    LocalFileSystem::new_with_prefix(dir)
        .map(|f| f.with_fsync(true))
        .map_err(|e| Error::Backend {
            backend: BACKEND,
            context: format!("open the directory {}", dir.display()),
            source: Arc::new(e),
        })
}

fn io(context: String, e: std::io::Error) -> Error {
    Error::io(BACKEND, context, e)
}

/// A conditional write that lost (the object exists, or changed): an answer, not a failure.
fn is_lost_condition(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
}

fn refused(message: String) -> object_store::Error {
    object_store::Error::NotSupported {
        source: message.into(),
    }
}

fn precondition(location: &Path, why: &str) -> object_store::Error {
    object_store::Error::Precondition {
        path: location.to_string(),
        source: why.into(),
    }
}

#[async_trait]
impl ObjectStore for LocalDirStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let _gate = self.gate("put", location).await?;
        self.check_poison()?;
        match opts.mode.clone() {
            // Create-if-absent is a hard link, atomic without help; a replacement may race an
            // emulated conditional update of the same key, so it is serialized with them.
            PutMode::Create => {
                self.poison_on(self.shared.files.put_opts(location, payload, opts).await)
            }
            PutMode::Overwrite => {
                let replace = self.replace_lock();
                let _serial = replace.lock().await;
                self.poison_on(self.shared.files.put_opts(location, payload, opts).await)
            }
            PutMode::Update(expected) => {
                self.put_if_unchanged(location, payload, opts, expected)
                    .await
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        // An upload completes after this call returns, outside the lock's guard; the log
        // writes each object with one PUT and never needs it.
        Err(object_store::Error::NotImplemented {
            operation: format!("put_multipart_opts at {location} (the S3 log uses single PUTs)"),
            implementer: self.to_string(),
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check_poison()?;
        self.shared.files.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let store = self.clone();
        locations
            .then(move |location| {
                let store = store.clone();
                async move { store.delete_synced(location?).await }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(e) = self.check_poison() {
            return futures_util::stream::once(async move { Err(e) }).boxed();
        }
        self.shared.files.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(e) = self.check_poison() {
            return futures_util::stream::once(async move { Err(e) }).boxed();
        }
        self.shared.files.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check_poison()?;
        self.shared.files.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let _gate = self.gate("copy to", to).await?;
        let replace = self.replace_lock();
        let _serial = replace.lock().await;
        self.check_poison()?;
        self.poison_on(self.shared.files.copy_opts(from, to, options).await)
    }
}

impl crate::S3Log {
    /// Opens a read replica of the log under `options.prefix` in the local directory `dir`
    /// (see [`S3Log::open_follower`](crate::S3Log::open_follower)). It takes no lock, so it
    /// runs beside the writer (another process) and never writes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{Durability, Log, Operation};
    /// use rig_log_s3::{S3Log, S3LogOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("rig-doc-local-follower-{}", std::process::id()));
    /// let writer = S3Log::open_local(&dir, S3LogOptions::default()).await?;
    /// let v = writer.append(vec![Operation::new("set", "a=1")], Durability::Local).await?;
    /// let follower = S3Log::open_local_follower(&dir, S3LogOptions::default()).await?;
    /// assert_eq!(follower.read(v, 1).await?[0].op.method, "set");
    /// # writer.close().await?;
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_local_follower(
        dir: impl AsRef<FsPath>,
        options: crate::S3LogOptions,
    ) -> Result<crate::S3Follower> {
        let dir = dir.as_ref().to_path_buf();
        let store = off_thread(move || LocalDirStore::open_reader(dir)).await?;
        Self::open_follower(Arc::new(store), options).await
    }
}
