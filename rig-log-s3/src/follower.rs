//! [`S3Follower`]: a read-only view of the log. Either a read replica that tails `LOG/` and
//! commits batches as they appear (the Memstate model: "apply the commands when they return from
//! the stream database"), or a point-in-time restore fixed at one version.
//!
//! Both follow the chain with recovery's rules ([`crate::recovery::walk_chain`] and
//! [`crate::recovery::check_past_end`]): only listed keys are read, a fence marker or a batch
//! of an older epoch than its predecessor ends the chain (debris of a fenced writer, which the
//! new writer may overwrite, is never exposed), and a batch written after a missing one was
//! durable is a hole, reported, never skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use object_store::ObjectStore;
use rig_core::sync::Watermark;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};

use crate::chain::{batch_holding, decode_chain_batch};
use crate::io::{fetch, list_versions, list_versions_after, BACKEND};
use crate::layout::Layout;
use crate::options::S3LogOptions;
use crate::recovery::{check_past_end, read_latest, scan, walk_chain, Scan};
use crate::S3Log;

/// A read-only [`Log`] over an [`S3Log`]'s objects: a read replica
/// ([`S3Log::open_follower`]) or a point-in-time view ([`S3Log::open_at`]).
///
/// It never takes the writer epoch and never writes. Its role is
/// [`Role::Follower`], so a [`rig_core::Rig`] over it serves stale-but-consistent reads and
/// answers every `execute` with [`Error::NotLeader`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use rig_core::{Durability, Log, Operation, Role};
/// use rig_log_s3::{S3Log, S3LogOptions};
///
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let writer = S3Log::open(store.clone(), S3LogOptions::default()).await?;
/// writer.append(vec![Operation::new("set", "a=1")], Durability::Local).await?;
/// let replica = S3Log::open_follower(store.clone(), S3LogOptions::default()).await?;
/// assert_eq!(replica.role(), Role::Follower { leader: None });
/// assert_eq!(replica.wait_committed(0).await?, 1);
/// assert_eq!(replica.read(1, 10).await?[0].op.method, "set");
/// # Ok::<(), rig_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct S3Follower {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
    /// Point in time: the snapshot to load (`None`: the log from version 1). A replica loads
    /// whatever `LATEST` names.
    fixed: Option<Option<u64>>,
    view: Mutex<View>,
    committed: Watermark,
    closed: AtomicBool,
}

#[derive(Debug)]
struct View {
    /// Batches on the chain: first version -> entry count.
    index: BTreeMap<u64, u32>,
    /// The version after the chain's last batch.
    next: u64,
    /// The epoch of the chain's last batch.
    tail_epoch: u64,
    first_version: u64,
}

/// How many times opening a replica scans again when the scan raced a writer's compaction.
const SCAN_ATTEMPTS: u32 = 3;

impl S3Log {
    /// Opens a read replica of the log under `options.prefix`: it replays the chain like
    /// [`S3Log::open`] but takes no writer epoch and never writes, then lists `LOG/` (LIST
    /// `start-after` its last batch) every `options.follower_poll_interval` and commits the new
    /// batches on the chain. Appends fail with [`Error::NotLeader`]. Must run inside a tokio
    /// runtime.
    ///
    /// A store error while tailing is retried at the next poll; a hole, a damaged batch, or
    /// falling behind the writer's compaction fails every later
    /// [`wait_committed`](Log::wait_committed) (reopen the replica to start from the newest
    /// snapshot).
    pub async fn open_follower(
        store: Arc<dyn ObjectStore>,
        options: S3LogOptions,
    ) -> Result<S3Follower> {
        let layout = Layout::new(&options.prefix);
        let mut attempt = 1;
        let s = loop {
            match scan(store.as_ref(), &layout, u64::MAX, None).await {
                Err(Error::Corrupt { .. }) if attempt < SCAN_ATTEMPTS => attempt += 1,
                r => break r?,
            }
        };
        tracing::info!(prefix = %options.prefix, committed = s.next - 1, "s3-log: follower opened");
        let inner = Arc::new(Shared::new(store, layout, None, &s, s.next - 1));
        let weak = Arc::downgrade(&inner);
        tokio::spawn(tail(weak, options.follower_poll_interval));
        Ok(S3Follower { inner })
    }

    /// Opens the log read-only as it was at `version` (point-in-time restore,
    /// `restore --to-version V`): [`load_snapshot`](Log::load_snapshot) returns the newest
    /// snapshot at or below `version` and the log ends at `version`, so
    /// [`rig_core::Rig::open`] over it rebuilds the state at exactly `version`.
    ///
    /// [`Error::InvalidArgument`] when `version` is past the log's end, below the oldest
    /// retained snapshot, or when the entries between that snapshot and `version` were
    /// compacted. The view never moves; appends fail with [`Error::NotLeader`].
    pub async fn open_at(
        store: Arc<dyn ObjectStore>,
        options: S3LogOptions,
        version: u64,
    ) -> Result<S3Follower> {
        let layout = Layout::new(&options.prefix);
        let s = scan(store.as_ref(), &layout, u64::MAX, Some(version)).await?;
        if version >= s.next {
            return Err(Error::InvalidArgument(format!(
                "cannot restore to version {version}: the log ends at version {}",
                s.next - 1
            )));
        }
        let snapshots = list_versions(store.as_ref(), &layout.snapshot_dir()).await?;
        let base = snapshots.range(..=version).next_back().map(|(&v, _)| v);
        let from = base.unwrap_or(0);
        if from < version && s.start > from + 1 {
            return Err(Error::InvalidArgument(match (base, snapshots.keys().next()) {
                (None, Some(oldest)) => format!(
                    "cannot restore to version {version}: it is below the oldest retained snapshot {oldest}"
                ),
                _ => format!(
                    "cannot restore to version {version}: versions {}..{} after snapshot {from} were compacted (the log starts at {})",
                    from + 1,
                    s.start - 1,
                    s.start
                ),
            }));
        }
        tracing::info!(prefix = %options.prefix, version, snapshot = from, "s3-log: opened at a point in time");
        Ok(S3Follower {
            inner: Arc::new(Shared::new(store, layout, Some(base), &s, version)),
        })
    }
}

/// The replica's tailing task; ends once the follower is dropped or closed, or on a fatal error.
async fn tail(weak: Weak<Shared>, poll: Duration) {
    loop {
        tokio::time::sleep(poll).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        match inner.poll().await {
            Ok(()) => {}
            Err(e @ Error::Backend { .. }) => {
                tracing::warn!(error = %e, "s3-log: follower poll failed; retrying");
            }
            Err(e) => {
                tracing::error!(error = %e, "s3-log: follower stops");
                inner.committed.poison(e);
                return;
            }
        }
    }
}

impl Shared {
    fn new(
        store: Arc<dyn ObjectStore>,
        layout: Layout,
        fixed: Option<Option<u64>>,
        s: &Scan,
        committed: u64,
    ) -> Self {
        Self {
            store,
            layout,
            fixed,
            view: Mutex::new(View {
                index: s.index.clone(),
                next: s.next,
                tail_epoch: s.tail_epoch,
                first_version: s.start,
            }),
            committed: Watermark::new(committed),
            closed: AtomicBool::new(false),
        }
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().expect("s3-log follower lock")
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// One LIST after the chain's end, then the new batches on the chain.
    async fn poll(&self) -> Result<()> {
        let (next, tail_epoch) = {
            let v = self.view();
            (v.next, v.tail_epoch)
        };
        let store = self.store.as_ref();
        let after = self.layout.log(next - 1);
        let keys = list_versions_after(store, &self.layout.log_dir(), Some(&after)).await?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut index = BTreeMap::new();
        let (new_next, new_tail) = walk_chain(
            store,
            &self.layout,
            &keys,
            next,
            tail_epoch,
            u64::MAX,
            None,
            &mut index,
        )
        .await?;
        if let Err(e) = check_past_end(store, &self.layout, &keys, new_next, u64::MAX).await {
            let latest = read_latest(store, &self.layout)
                .await?
                .map_or(0, |(v, _)| v);
            if latest >= new_next {
                return Err(Error::InvalidArgument(format!(
                    "the follower fell behind: versions from {new_next} were compacted (LATEST is {latest}); reopen it"
                )));
            }
            return Err(e);
        }
        if new_next > next {
            {
                let mut v = self.view();
                v.index.extend(index);
                v.next = new_next;
                v.tail_epoch = new_tail;
            }
            tracing::debug!(committed = new_next - 1, "s3-log: follower advanced");
            self.committed.advance(new_next - 1);
        }
        Ok(())
    }

    /// Reads one batch on the chain and checks it is the one the chain says.
    async fn fetch(&self, key: u64, count: u32) -> Result<Vec<LogPayload>> {
        let path = self.layout.log(key);
        let Some((bytes, _)) = fetch(self.store.as_ref(), &path).await? else {
            return Err(Error::InvalidArgument(format!(
                "version {key} is no longer in the store ({path} was compacted)"
            )));
        };
        decode_chain_batch(&path, &bytes, key, count)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.check_open()?;
        let committed = self.committed.get();
        let mut out: Vec<LogPayload> = Vec::new();
        let mut next = from;
        while out.len() < max && next <= committed {
            let (key, count) = {
                let v = self.view();
                if next == 0 || next < v.first_version {
                    return Err(Error::InvalidArgument(format!(
                        "version {next} is below the first readable version {}",
                        v.first_version
                    )));
                }
                batch_holding(&v.index, &self.layout, next)?
            };
            let entries = self.fetch(key, count).await?;
            let want = (max - out.len()).min((committed - next + 1) as usize);
            out.extend(entries.into_iter().skip((next - key) as usize).take(want));
            next = from + out.len() as u64;
        }
        Ok(out)
    }
}

impl S3Follower {
    /// The version this view was opened at, for a point-in-time view; `None` for a replica.
    pub fn fixed_version(&self) -> Option<u64> {
        self.inner.fixed.map(|_| self.inner.committed.get())
    }
}

fn not_leader() -> Error {
    Error::NotLeader { leader: None }
}

#[async_trait]
impl Log for S3Follower {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn strongest_durability(&self) -> Durability {
        Durability::Local
    }

    fn append(&self, _ops: Vec<Operation>, _durability: Durability) -> AppendFuture {
        futures_util::future::ready(Err(not_leader())).boxed()
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.inner.read(from, max).await
    }

    fn committed(&self) -> u64 {
        self.inner.committed.get()
    }

    fn first_version(&self) -> u64 {
        self.inner.view().first_version
    }

    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.inner.check_open()?;
        self.inner.committed.wait_for(after + 1).await
    }

    /// A follower never writes: [`Error::NotLeader`].
    async fn save_snapshot(&self, _snapshot: Snapshot) -> Result<()> {
        Err(not_leader())
    }

    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.inner.check_open()?;
        let (store, layout) = (self.inner.store.as_ref(), &self.inner.layout);
        match self.inner.fixed {
            None => crate::snapshot::load_latest(store, layout).await,
            Some(None) => Ok(None),
            Some(Some(v)) => crate::snapshot::load_version(store, layout, v, "the restore chose")
                .await
                .map(Some),
        }
    }

    /// A follower never deletes: compaction is the writer's (dropping is lazy by contract).
    async fn compact(&self, _through: u64) -> Result<()> {
        self.inner.check_open()
    }

    fn role(&self) -> Role {
        Role::Follower { leader: None }
    }

    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.committed.poison(Error::Closed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{PutMode, PutOptions};

    use super::*;
    use crate::format::{encode_batch, BatchHeader};

    fn opts() -> S3LogOptions {
        S3LogOptions {
            seed: Some(3),
            // The test polls by hand, so what the follower sees is decided here, not by timing.
            follower_poll_interval: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    /// Fails a test that runs past 120 s instead of hanging CI (as `tests/common::bounded`).
    async fn bounded<F: std::future::Future>(what: &str, body: F) -> F::Output {
        match tokio::time::timeout(Duration::from_secs(120), body).await {
            Ok(out) => out,
            Err(_) => panic!("{what}: still running after 120 s; it hangs"),
        }
    }

    fn op(name: &str) -> Operation {
        Operation::new(name, name.as_bytes().to_vec())
    }

    /// An object a fenced writer (epoch 1) would leave at `first`: a pipelined PUT that landed
    /// behind the new writer's batches.
    async fn plant(store: &dyn ObjectStore, first: u64, durable_through: u64) {
        let header = BatchHeader {
            epoch: 1,
            put_id: 0xdeb,
            first,
            count: 1,
            durable_through,
        };
        let entries = [LogPayload {
            version: first,
            op: op("debris"),
        }];
        store
            .put_opts(
                &Layout::new("").log(first),
                encode_batch(header, &entries).into(),
                PutOptions::from(PutMode::Create),
            )
            .await
            .unwrap();
    }

    async fn methods(f: &S3Follower) -> Vec<String> {
        let read = f.read(1, 100).await.unwrap();
        read.into_iter().map(|p| p.op.method).collect()
    }

    /// Debris of a fenced writer on the new writer's next slot is never exposed; the new
    /// writer's batch that replaces it is.
    #[tokio::test]
    async fn follower_never_exposes_debris_the_new_writer_overwrites() {
        bounded(
            "follower_never_exposes_debris_the_new_writer_overwrites",
            async {
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                let first = S3Log::open(store.clone(), opts()).await.unwrap();
                first
                    .append(vec![op("a")], Durability::Local)
                    .await
                    .unwrap();
                let follower = S3Log::open_follower(store.clone(), opts()).await.unwrap();
                assert_eq!(follower.committed(), 1);

                let second = S3Log::open(store.clone(), opts()).await.unwrap();
                follower.inner.poll().await.unwrap();
                assert_eq!(
                    follower.committed(),
                    1,
                    "the fence marker at 2 is not an entry"
                );
                second
                    .append(vec![op("b")], Durability::Local)
                    .await
                    .unwrap();
                plant(store.as_ref(), 3, 1).await;
                follower.inner.poll().await.unwrap();
                assert_eq!(
                    follower.committed(),
                    2,
                    "epoch 1 after epoch 2 ends the chain"
                );
                assert_eq!(methods(&follower).await, ["a", "b"]);

                second
                    .append(vec![op("c")], Durability::Local)
                    .await
                    .unwrap();
                follower.inner.poll().await.unwrap();
                assert_eq!(follower.committed(), 3);
                assert_eq!(methods(&follower).await, ["a", "b", "c"]);
            },
        )
        .await;
    }

    /// A batch past the chain's end written after the missing one was durable is a hole: the
    /// follower reports it and stops, instead of skipping it.
    #[tokio::test]
    async fn follower_reports_a_hole_instead_of_skipping_it() {
        bounded("follower_reports_a_hole_instead_of_skipping_it", async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let writer = S3Log::open(store.clone(), opts()).await.unwrap();
            writer
                .append(vec![op("a")], Durability::Local)
                .await
                .unwrap();
            let follower = S3Log::open_follower(store.clone(), opts()).await.unwrap();
            // Debris past the end that was sealed before version 2 was durable is ignored...
            plant(store.as_ref(), 5, 1).await;
            follower.inner.poll().await.unwrap();
            assert_eq!(follower.committed(), 1);
            // ...but one sealed after version 2 was durable proves version 2 is missing.
            plant(store.as_ref(), 9, 4).await;
            match follower.inner.poll().await {
                Err(Error::Corrupt { location, .. }) => {
                    assert_eq!(location, Layout::new("").log(2).to_string());
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
            assert_eq!(follower.committed(), 1);
        })
        .await;
    }

    /// A follower whose next batches were compacted away by the writer says so (reopen it from
    /// the snapshot) instead of reporting a hole or skipping them.
    #[tokio::test]
    async fn follower_behind_compaction_is_told_to_reopen() {
        bounded("follower_behind_compaction_is_told_to_reopen", async {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let writer = S3Log::open(store.clone(), opts()).await.unwrap();
            writer
                .append(vec![op("a")], Durability::Local)
                .await
                .unwrap();
            let follower = S3Log::open_follower(store.clone(), opts()).await.unwrap();
            writer
                .append(vec![op("b")], Durability::Local)
                .await
                .unwrap();
            writer
                .append(vec![op("c")], Durability::Local)
                .await
                .unwrap();
            let snapshot = Snapshot {
                version: 3,
                data: "abc".into(),
            };
            writer.save_snapshot(snapshot).await.unwrap();
            writer.compact(3).await.unwrap();
            writer
                .append(vec![op("d")], Durability::Local)
                .await
                .unwrap();
            match follower.inner.poll().await {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("compacted"), "{m}"),
                other => panic!("expected InvalidArgument, got {other:?}"),
            }
            assert_eq!(follower.committed(), 1);
            let reopened = S3Log::open_follower(store.clone(), opts()).await.unwrap();
            assert_eq!(reopened.committed(), 4);
            assert_eq!(reopened.load_snapshot().await.unwrap().unwrap().version, 3);
            assert_eq!(reopened.read(4, 10).await.unwrap()[0].op.method, "d");
        })
        .await;
    }
}
