//! [`S3Log`]: the [`Log`] over an object store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::FutureExt;
use object_store::ObjectStore;
use rig_core::seams::{Rand, SeededRand};
use rig_core::sync::Watermark;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};

use crate::chain::{batch_holding, decode_chain_batch};
use crate::commit::{Actions, CommitState, Job};
use crate::format::encode_batch;
use crate::io::{fetch, BACKEND};
use crate::layout::Layout;
use crate::local::{off_thread, LocalDirStore};
use crate::options::S3LogOptions;
use crate::put::{claim_slot, Claim, OnTaken, Retry, Slot};
use crate::recovery::{fenced, read_epoch, recover};

/// A [`Log`] whose batches and snapshots are objects in S3 or any [`ObjectStore`].
///
/// Opening takes a new writer epoch and fences any older writer; see the
/// [crate docs](crate) for the layout, batching and fencing.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use rig_core::{Durability, Log, Operation};
/// use rig_log_s3::{S3Log, S3LogOptions};
///
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let log = S3Log::open(store.clone(), S3LogOptions::default()).await?;
/// assert_eq!(log.append(vec![Operation::new("set", "a=1")], Durability::Local).await?, 1);
/// log.close().await?;
/// let log = S3Log::open(store, S3LogOptions::default()).await?;
/// assert_eq!(log.read(1, 10).await?[0].op.method, "set");
/// # Ok::<(), rig_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct S3Log {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) layout: Layout,
    pub(crate) opts: S3LogOptions,
    pub(crate) epoch: u64,
    rand: SeededRand,
    runtime: tokio::runtime::Handle,
    pub(crate) state: Mutex<CommitState>,
    committed: Watermark,
    pub(crate) durable: Watermark,
    closed: AtomicBool,
    /// A read of `WRITER` (looking for a newer epoch) is in flight.
    epoch_check: AtomicBool,
    /// On a local directory: the store holding the writer lock, released by `close`.
    local: Option<LocalDirStore>,
}

impl S3Log {
    /// Opens (or creates) the log under `options.prefix` in `store` as its only writer: takes
    /// the next writer epoch, replays the chain of batches (reporting a missing batch as
    /// [`Error::Corrupt`]) and fences any older writer. Must run inside a tokio runtime.
    pub async fn open(store: Arc<dyn ObjectStore>, options: S3LogOptions) -> Result<Self> {
        Self::open_on(store, options, None).await
    }

    /// Opens (or creates) the log under `options.prefix` in the local directory `dir` (created
    /// if absent) as its only writer, in the S3 layout: the exclusive lock file
    /// [`LOCAL_LOCK_FILE`](crate::LOCAL_LOCK_FILE) fences other writers instead of conditional
    /// writes, and is held until [`close`](Log::close) (or until the log and its tasks are gone,
    /// or the process dies). Another writer on `dir` gets [`Error::Unavailable`] naming it. Every
    /// acknowledged write is fsynced with its directory; see [`LocalDirStore`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rig_core::{Durability, Log, Operation};
    /// use rig_log_s3::{S3Log, S3LogOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("rig-doc-open-local-{}", std::process::id()));
    /// let log = S3Log::open_local(&dir, S3LogOptions::default()).await?;
    /// let v = log.append(vec![Operation::new("set", "a=1")], Durability::Local).await?;
    /// assert!(S3Log::open_local(&dir, S3LogOptions::default()).await.is_err(), "one writer");
    /// log.close().await?; // releases the lock
    /// let log = S3Log::open_local(&dir, S3LogOptions::default()).await?;
    /// assert_eq!(log.read(v, 1).await?[0].op.method, "set");
    /// # log.close().await?;
    /// # Ok::<(), rig_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_local(
        dir: impl AsRef<std::path::Path>,
        options: S3LogOptions,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let store = off_thread(move || LocalDirStore::open_writer(dir)).await?;
        let opened = Self::open_on(Arc::new(store.clone()), options, Some(store.clone())).await;
        if opened.is_err() {
            store.release().await;
        }
        opened
    }

    async fn open_on(
        store: Arc<dyn ObjectStore>,
        options: S3LogOptions,
        local: Option<LocalDirStore>,
    ) -> Result<Self> {
        if store.to_string().starts_with("LocalFileSystem(") {
            // It has no compare-and-swap, so the first batch after the fence marker would fail;
            // say so now, and name the mode that fences a directory with a lock instead.
            return Err(Error::InvalidArgument(format!(
                "{store} cannot host an S3 log writer: it has no conditional update to fence a \
                 second writer; open a local directory with S3Log::open_local, which fences with \
                 a lock file"
            )));
        }
        let layout = Layout::new(&options.prefix);
        let rand = options
            .seed
            .map_or_else(SeededRand::from_entropy, SeededRand::new);
        let retry = retry(&options);
        let r = recover(store.as_ref(), &layout, retry, rand.next_u64()).await?;
        tracing::info!(prefix = %options.prefix, epoch = r.epoch, next = r.next, "s3-log: opened");
        let committed = Watermark::new(r.next - 1);
        let durable = Watermark::new(r.next - 1);
        let state = CommitState::new(r.next, r.latest, r.index, r.marker);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                layout,
                opts: options,
                epoch: r.epoch,
                rand,
                runtime: tokio::runtime::Handle::current(),
                state: Mutex::new(state),
                committed,
                durable,
                closed: AtomicBool::new(false),
                epoch_check: AtomicBool::new(false),
                local,
            }),
        })
    }

    /// The writer epoch this instance took when it opened.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The newest durable version (everything at or below it is in the store).
    pub fn durable(&self) -> u64 {
        self.inner.durable.get()
    }
}

fn retry(opts: &S3LogOptions) -> Retry {
    Retry {
        attempts: opts.put_attempts.max(1),
        backoff: opts.retry_backoff,
    }
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, CommitState> {
        self.state.lock().expect("s3-log state lock")
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Carries out what the commit state decided: spawn PUTs, arm a timer.
    fn act(self: &Arc<Self>, actions: Actions) {
        if !actions.jobs.is_empty() {
            self.check_epoch();
        }
        for job in actions.jobs {
            let inner = Arc::clone(self);
            self.runtime.spawn(async move { inner.run_job(job).await });
        }
        if let Some(id) = actions.arm_timer {
            let inner = Arc::clone(self);
            let delay = self.opts.max_batch_delay;
            self.runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                let (actions, poison) = {
                    let mut s = inner.state();
                    s.timer_fired(id);
                    (inner.step(&mut s), s.poison.clone())
                };
                inner.poison_marks(poison);
                inner.act(actions);
            });
        }
    }

    /// Alongside the PUTs, looks for a newer writer epoch in `WRITER` (one read at a time).
    ///
    /// The fence alone cannot stop a writer that keeps its pipeline full: each of its batches is
    /// sealed (its slot fixed) before the previous one lands, so the new writer, which learns the
    /// next slot only by reading the landed batch, loses the create-if-absent race at every slot
    /// and `open` never ends. Seeing the newer epoch, this writer stops sealing; its in-flight
    /// batches settle by what the store says (landed on the chain: replayed by the new writer and
    /// acknowledged; behind the fence: `Fenced`), and every later append fails with `Fenced`.
    fn check_epoch(self: &Arc<Self>) {
        if self.epoch_check.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let current = read_epoch(inner.store.as_ref(), &inner.layout).await;
            inner.epoch_check.store(false, Ordering::Release);
            match current {
                Ok(Some((theirs, _))) if theirs > inner.epoch => {
                    tracing::warn!(
                        epoch = inner.epoch,
                        newer = theirs,
                        "s3-log: a newer writer took over; this writer stops"
                    );
                    let error = fenced(inner.epoch, theirs, &inner.layout.writer());
                    let poison = {
                        let mut s = inner.state();
                        s.stop(error);
                        let _ = inner.step(&mut s); // stopping: never seals, may poison
                        s.poison.clone()
                    };
                    inner.poison_marks(poison);
                }
                Ok(_) => {}
                // Only a hint: the fence at the next slot still stops this writer.
                Err(e) => tracing::warn!(error = %e, "s3-log: could not read the writer epoch"),
            }
        });
    }

    /// Fails every waiter past the durable point once the writer is poisoned.
    fn poison_marks(&self, poison: Option<Error>) {
        if let Some(e) = poison {
            self.durable.poison(e.clone());
            self.committed.poison(e);
        }
    }

    fn step(&self, s: &mut CommitState) -> Actions {
        s.step(&self.opts, self.epoch, || self.rand.next_u64())
    }

    async fn run_job(self: Arc<Self>, job: Job) {
        let first = job.header.first;
        let result = self.put_batch(job).await;
        if let Err(e) = &result {
            tracing::error!(first, error = %e, "s3-log: batch failed; the writer stops");
        }
        let (advanced, actions, poison) = {
            let mut s = self.state();
            let advanced = s.complete(first, result);
            let actions = self.step(&mut s);
            (advanced, actions, s.poison.clone())
        };
        if let Some(v) = advanced {
            self.durable.advance(v);
        }
        self.poison_marks(poison);
        self.act(actions);
    }

    async fn put_batch(&self, job: Job) -> Result<()> {
        let header = job.header;
        let path = self.layout.log(header.first);
        let bytes = encode_batch(header, &job.entries);
        let slot = job.replace.map_or(Slot::Empty, Slot::Replace);
        let epoch = self.epoch;
        // Past this writer's fence, a lower-epoch object is debris and its own marker may go.
        let on_taken = |h: &crate::format::BatchHeader| {
            if h.epoch < epoch || (h.epoch == epoch && h.count == 0) {
                OnTaken::Replace
            } else {
                OnTaken::Stop
            }
        };
        match claim_slot(self.store.as_ref(), &path, bytes, header, slot, retry(&self.opts), on_taken).await? {
            Claim::Written(_) => Ok(()),
            Claim::Taken(b) if b.header.epoch > epoch => Err(fenced(epoch, b.header.epoch, &path)),
            Claim::Taken(b) => Err(Error::Fenced {
                reason: format!(
                    "{path} holds another batch of writer epoch {} (put id {:x}): two writers share an epoch",
                    b.header.epoch, b.header.put_id
                ),
            }),
        }
    }

    fn append(self: &Arc<Self>, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        if ops.is_empty() {
            return futures_util::future::ready(Err(Error::InvalidArgument("empty batch".into())))
                .boxed();
        }
        if let Err(e) = self.check_open() {
            return futures_util::future::ready(Err(e)).boxed();
        }
        let (first, last, actions) = {
            let mut s = self.state();
            if let Some(e) = s.poison.as_ref().or(s.stopping.as_ref()) {
                return futures_util::future::ready(Err(e.clone())).boxed();
            }
            if s.closing {
                return futures_util::future::ready(Err(Error::Closed)).boxed();
            }
            let first = s.push(ops);
            let last = s.next - 1;
            (first, last, self.step(&mut s))
        };
        self.committed.advance(last);
        self.act(actions);
        if durability == Durability::Applied {
            return futures_util::future::ready(Ok(first)).boxed();
        }
        let inner = Arc::clone(self);
        async move { inner.durable.wait_for(last).await.map(|_| first) }.boxed()
    }

    /// Reads one stored batch and checks that it is the one the chain says.
    async fn fetch(&self, key: u64, count: u32) -> Result<Vec<LogPayload>> {
        let path = self.layout.log(key);
        let Some((bytes, _)) = fetch(self.store.as_ref(), &path).await? else {
            if key < self.state().first_version {
                return Err(Error::InvalidArgument(format!(
                    "version {key} was compacted"
                )));
            }
            return Err(Error::corrupt(
                path.to_string(),
                "log batch on the chain is missing",
            ));
        };
        decode_chain_batch(&path, &bytes, key, count)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.check_open()?;
        let mut out: Vec<LogPayload> = Vec::new();
        let mut next = from;
        while out.len() < max {
            let (key, count) = {
                let s = self.state();
                if next == 0 || next < s.first_version {
                    return Err(Error::InvalidArgument(format!(
                        "version {next} is below the first readable version {}",
                        s.first_version
                    )));
                }
                if next >= s.next {
                    break;
                }
                if next > s.durable {
                    out.extend(s.pending_from(next, max - out.len()));
                    break;
                }
                batch_holding(&s.index, &self.layout, next)?
            };
            let entries = self.fetch(key, count).await?;
            let skip = (next - key) as usize;
            out.extend(entries.into_iter().skip(skip).take(max - out.len()));
            next = from + out.len() as u64;
        }
        Ok(out)
    }

    async fn close(self: &Arc<Self>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let (target, actions, poison) = {
            let mut s = self.state();
            s.closing = true;
            let actions = self.step(&mut s);
            (s.next - 1, actions, s.poison.clone())
        };
        self.poison_marks(poison);
        self.act(actions);
        let flushed = self.durable.wait_for(target).await.map(drop);
        self.closed.store(true, Ordering::Release);
        if let Some(local) = &self.local {
            // Nothing more is written: the next writer may take the directory.
            local.release().await;
        }
        flushed
    }
}

#[async_trait]
impl Log for S3Log {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Local
    }

    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        self.inner.append(ops, durability)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.inner.read(from, max).await
    }

    fn committed(&self) -> u64 {
        self.inner.committed.get()
    }

    fn first_version(&self) -> u64 {
        self.inner.state().first_version
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.inner.check_open()?;
        self.inner.committed.wait_for(after + 1).await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.inner.check_open()?;
        crate::snapshot::save(&self.inner, snapshot).await
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.inner.check_open()?;
        crate::snapshot::load(&self.inner).await
    }

    async fn compact(&self, through: u64) -> Result<()> {
        self.inner.check_open()?;
        crate::snapshot::compact(&self.inner, through).await
    }

    fn role(&self) -> Role {
        Role::Leader
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
