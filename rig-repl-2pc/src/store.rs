//! [`Store`]: a node's durable local log of [`Record`]s in a `FileLog`, and the [`LogState`] they
//! rebuild.
//!
//! Records are stored as `FileLog` entries (see `record_codec.rs`: one per record, or one per
//! run of prepares). The `FileLog`'s own versions are local entry numbers, unrelated to
//! replicated versions.
//!
//! **Compaction.** [`Store::compact`] writes a `Checkpoint` record (base, commit point, epoch and
//! every entry after the base, in one record, so it is atomic) and lets the `FileLog` drop the
//! records before it. Opening a compacted local log skips to its first checkpoint. The
//! `FileLog`'s snapshot store holds the engine's snapshots, each saved under the local record
//! number current at the time (the `FileLog` only compacts below its newest snapshot) with the
//! replicated version in a small header.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut, BytesMut};
use rig_core::codec::{put_varint, Reader};
use rig_core::sync::Watermark;
use rig_core::{AppendFuture, Durability, Error, Log, Result, Snapshot};
use rig_log_file::FileLog;

use crate::record_codec::{decode, encode, encode_all, EncodedRun};
use crate::state::{LogState, Record};

const READ_CHUNK: usize = 4096;
/// Starts a stored snapshot's data: the replicated version follows (varint), then the engine's
/// bytes.
const SNAPSHOT_MAGIC: &[u8; 8] = b"rig2pcS1";

/// A node's local log and its state.
#[derive(Debug)]
pub(crate) struct Store {
    file: FileLog,
    state: Mutex<LogState>,
    /// One writer at a time, so records reach the file in the order they are applied.
    writer: tokio::sync::Mutex<()>,
    /// The committed version, for `wait_committed`.
    committed: Arc<Watermark>,
    /// The newest snapshot: its replicated version and its local record number.
    snapshot: Mutex<Option<(u64, u64)>>,
    /// A commit point applied by [`Store::commit_lazily`] whose `Commit` record is not written
    /// yet: the next write carries it in front of its own records.
    unwritten_commit: Mutex<Option<u64>>,
    /// Tests: while `true`, lazily persisted records do not report durable (a slow fsync).
    #[cfg(test)]
    pub(crate) hold_lazy: tokio::sync::watch::Sender<bool>,
    /// Tests: while `true`, lazily persisted records are applied but never reach the file (an
    /// unsynced write a crash drops; the node must crash before writing anything after them).
    #[cfg(test)]
    pub(crate) drop_lazy: std::sync::atomic::AtomicBool,
}

/// The replicated snapshot inside a stored one (saved by [`Store::save_snapshot`]). A stored
/// snapshot without the header is taken as is.
fn unwrap_snapshot(stored: &Snapshot) -> Result<Snapshot> {
    let Some(rest) = stored.data.strip_prefix(SNAPSHOT_MAGIC.as_slice()) else {
        return Ok(stored.clone());
    };
    let mut r = Reader::new(rest);
    let version = r
        .varint("snapshot version")
        .map_err(|e| Error::corrupt("2pc snapshot", e.to_string()))?;
    let header = SNAPSHOT_MAGIC.len() + r.position();
    Ok(Snapshot {
        version,
        data: stored.data.slice(header..),
    })
}

impl Store {
    /// Opens the store over `file`, replaying every record (from the first checkpoint when the
    /// local log was compacted).
    pub(crate) async fn open(file: FileLog) -> Result<Self> {
        let mut state = LogState::default();
        let mut next = file.first_version();
        let mut skipping = next > 1;
        loop {
            let chunk = file.read(next, READ_CHUNK).await?;
            if chunk.is_empty() {
                break;
            }
            for entry in &chunk {
                for record in decode(entry)? {
                    if skipping && !matches!(record, Record::Checkpoint { .. }) {
                        continue; // before the checkpoint the compaction kept
                    }
                    skipping = false;
                    state.apply(record).map_err(|reason| {
                        Error::corrupt(format!("2pc local record {}", entry.version), reason)
                    })?;
                }
            }
            next += chunk.len() as u64;
        }
        if skipping {
            return Err(Error::corrupt(
                "2pc local log",
                format!(
                    "compacted below record {} but holds no checkpoint",
                    file.first_version()
                ),
            ));
        }
        let snapshot = match file.load_snapshot().await? {
            Some(stored) => Some((unwrap_snapshot(&stored)?.version, stored.version)),
            None => None,
        };
        let committed = Arc::new(Watermark::new(state.committed()));
        Ok(Self {
            file,
            state: Mutex::new(state),
            writer: tokio::sync::Mutex::new(()),
            committed,
            snapshot: Mutex::new(snapshot),
            unwritten_commit: Mutex::new(None),
            #[cfg(test)]
            hold_lazy: tokio::sync::watch::channel(false).0,
            #[cfg(test)]
            drop_lazy: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The current state (a short lock: never hold it across an await).
    pub(crate) fn state(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().expect("2pc state lock")
    }

    /// The committed watermark.
    pub(crate) fn committed(&self) -> &Arc<Watermark> {
        &self.committed
    }

    /// The local file log (snapshots are stored there).
    pub(crate) fn file(&self) -> &FileLog {
        &self.file
    }

    /// Makes `records` durable (one fsync), then applies them to the state. An error here is
    /// fatal: the caller must stop.
    pub(crate) async fn persist(&self, mut records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let _writer = self.writer.lock().await;
        self.carry_unwritten_commit(&mut records);
        self.state()
            .check(&records)
            .map_err(|reason| Error::corrupt("2pc log state", reason))?;
        let entries = encode_all(&mut records, None);
        if let Err(e) = self.file.append(entries, Durability::Local).await {
            self.committed.poison(e.clone());
            return Err(e);
        }
        self.apply(records);
        Ok(())
    }

    /// Queues `records` behind every earlier one and applies them to the state at once; the
    /// returned future resolves when they are durable (it rides the next group commit, which
    /// also covers every record queued before). `None` when there is nothing to write. The run
    /// of prepares `encoded` names (if `records` hold it) is written from its section as is,
    /// not encoded again.
    ///
    /// The state runs ahead of the disk meanwhile: whoever answers for these records (a
    /// `Prepared`, an acknowledgment) waits for the future first. A failed write poisons the
    /// committed watermark; the caller stops the node.
    pub(crate) async fn queue_encoded(
        &self,
        records: Vec<Record>,
        encoded: Option<EncodedRun>,
    ) -> Result<Option<AppendFuture>> {
        if records.is_empty() {
            return Ok(None);
        }
        let _writer = self.writer.lock().await;
        self.queue_locked(records, encoded.as_ref()).map(Some)
    }

    /// [`Store::queue_encoded`], the writer lock held.
    fn queue_locked(
        &self,
        mut records: Vec<Record>,
        encoded: Option<&EncodedRun>,
    ) -> Result<AppendFuture> {
        self.carry_unwritten_commit(&mut records);
        self.state()
            .check(&records)
            .map_err(|reason| Error::corrupt("2pc log state", reason))?;
        let entries = encode_all(&mut records, encoded);
        let synced = self.file.append(entries, Durability::Local);
        self.apply(records);
        let committed = Arc::clone(&self.committed);
        Ok(Box::pin(async move {
            let r = synced.await;
            if let Err(e) = &r {
                committed.poison(e.clone());
            }
            r
        }))
    }

    /// Commits through `through` in memory at once (the state and the committed watermark),
    /// without writing the `Commit` record: the next write of this store carries it in front
    /// of its own records (usually the next round's `Prepare` records, so one write and one
    /// fsync cover both), or [`Store::write_unwritten_commit`] writes it alone.
    ///
    /// Only for a primary's commit of rounds durably prepared on every node its policy waits
    /// for: until the record is durable, every way the log reopens commits them again (see the
    /// crate docs). A commit commutes with every record written after it (prepares and
    /// rollbacks lie past the commit point), so the file replays to the same state.
    pub(crate) async fn commit_lazily(&self, through: u64) {
        let _writer = self.writer.lock().await;
        self.apply(vec![Record::Commit { through }]);
        let mut unwritten = self.unwritten_commit.lock().expect("2pc commit lock");
        *unwritten = Some(unwritten.map_or(through, |u| u.max(through)));
    }

    /// Queues the `Commit` record [`Store::commit_lazily`] left unwritten, alone; the future
    /// resolves when it is durable (`Ok(0)` at once when there is none). Nobody needs to wait
    /// for it; a failed write poisons the committed watermark.
    ///
    /// Tests can hold its durability back (a slow fsync) or drop the record (a crash before
    /// the write).
    pub(crate) async fn write_unwritten_commit(&self) -> Result<AppendFuture> {
        let _writer = self.writer.lock().await;
        if self
            .unwritten_commit
            .lock()
            .expect("2pc commit lock")
            .is_none()
        {
            return Ok(Box::pin(async { Ok(0) }));
        }
        #[cfg(test)]
        if self.drop_lazy.load(std::sync::atomic::Ordering::SeqCst) {
            *self.unwritten_commit.lock().expect("2pc commit lock") = None;
            return Ok(Box::pin(std::future::pending()));
        }
        // The unwritten record goes in front of no other record.
        let synced = self.queue_locked(Vec::new(), None)?;
        #[cfg(test)]
        let synced = {
            use futures_util::FutureExt;
            let mut held = self.hold_lazy.subscribe();
            async move {
                let _ = held.wait_for(|held| !held).await;
                synced.await
            }
            .boxed()
        };
        Ok(synced)
    }

    /// Puts the `Commit` record [`Store::commit_lazily`] left unwritten in front of `records`
    /// (the writer lock held). Tests dropping lazy records drop it instead.
    fn carry_unwritten_commit(&self, records: &mut Vec<Record>) {
        let Some(through) = self
            .unwritten_commit
            .lock()
            .expect("2pc commit lock")
            .take()
        else {
            return;
        };
        #[cfg(test)]
        if self.drop_lazy.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        records.insert(0, Record::Commit { through });
    }

    /// The replicated version of the newest snapshot, if any.
    pub(crate) fn snapshot_version(&self) -> Option<u64> {
        self.snapshot
            .lock()
            .expect("2pc snapshot lock")
            .map(|(v, _)| v)
    }

    /// Saves `snapshot` (of replicated state) in the local log's snapshot store.
    pub(crate) async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        let _writer = self.writer.lock().await;
        if self
            .snapshot_version()
            .is_some_and(|v| v >= snapshot.version)
        {
            return Ok(()); // as new or newer already stored
        }
        let version = snapshot.version;
        // Tagged with the local record count, which only grows: the newest tag is the newest.
        let tag = self.file.committed().max(1);
        let mut data = BytesMut::with_capacity(snapshot.data.len() + 18);
        data.put_slice(SNAPSHOT_MAGIC);
        put_varint(&mut data, version);
        data.put_slice(&snapshot.data);
        self.file
            .save_snapshot(Snapshot {
                version: tag,
                data: data.freeze(),
            })
            .await?;
        *self.snapshot.lock().expect("2pc snapshot lock") = Some((version, tag));
        Ok(())
    }

    /// Loads the newest snapshot (of replicated state).
    pub(crate) async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        match self.file.load_snapshot().await? {
            Some(stored) => Ok(Some(unwrap_snapshot(&stored)?)),
            None => Ok(None),
        }
    }

    /// Drops the entries through `through` (at most the commit point and the newest snapshot)
    /// from memory and lets the local log drop the records before the checkpoint. An error is
    /// fatal, as for [`Store::persist`].
    pub(crate) async fn compact(&self, through: u64) -> Result<()> {
        let _writer = self.writer.lock().await;
        let Some((snapshot, tag)) = *self.snapshot.lock().expect("2pc snapshot lock") else {
            return Ok(());
        };
        let checkpoint = {
            let state = self.state();
            if through.min(snapshot).min(state.committed()) <= state.base() {
                return Ok(());
            }
            state.checkpoint(through.min(snapshot))
        };
        self.write_checkpoint(checkpoint, tag).await
    }

    /// Installs `snapshot`, shipped by the primary: everything through its version is
    /// committed. Entries held past it stay (prepared); entries through it are dropped.
    ///
    /// The Log contract for an engine on this node: the snapshot is saved (durable, and the one
    /// `load_snapshot` returns) before the checkpoint moves `first_version` past the entries it
    /// covers, and the checkpoint commits through its version at the same moment.
    pub(crate) async fn install(&self, snapshot: Snapshot) -> Result<()> {
        let version = snapshot.version;
        self.save_snapshot(snapshot).await?;
        let _writer = self.writer.lock().await;
        let tag = self
            .snapshot
            .lock()
            .expect("2pc snapshot lock")
            .map_or(0, |(_, t)| t);
        let checkpoint = {
            let state = self.state();
            if version <= state.committed() {
                return Ok(());
            }
            Record::Checkpoint {
                base: version,
                committed: version,
                epoch: state.epoch(),
                tail: state.range(version + 1, state.last()),
            }
        };
        self.write_checkpoint(checkpoint, tag).await
    }

    /// Writes `checkpoint` (the writer lock held), applies it, and compacts the local log below
    /// it, as far as the snapshot tagged `tag` allows.
    async fn write_checkpoint(&self, checkpoint: Record, tag: u64) -> Result<()> {
        // The checkpoint records the commit point itself: any unwritten `Commit` is in it.
        self.unwritten_commit
            .lock()
            .expect("2pc commit lock")
            .take();
        self.state()
            .check(std::slice::from_ref(&checkpoint))
            .map_err(|reason| Error::corrupt("2pc log state", reason))?;
        let at = match self
            .file
            .append(vec![encode(&checkpoint)], Durability::Local)
            .await
        {
            Ok(at) => at,
            Err(e) => {
                self.committed.poison(e.clone());
                return Err(e);
            }
        };
        self.apply(vec![checkpoint]);
        // Not fatal: the checkpoint is durable, the records before it are only dead weight.
        if let Err(e) = self.file.compact((at - 1).min(tag)).await {
            tracing::warn!(error = %e, "local log compaction failed; records kept");
        }
        Ok(())
    }

    fn apply(&self, records: Vec<Record>) {
        let committed = {
            let mut state = self.state();
            for r in records {
                state.apply(r).expect("checked before writing");
            }
            state.committed()
        };
        self.committed.advance(committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_core::Operation;
    use rig_log_file::FileLogOptions;

    fn small_segments(dir: &std::path::Path) -> FileLog {
        let opts = FileLogOptions {
            segment_size: 16 << 10,
            ..Default::default()
        };
        FileLog::open(dir, opts).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_drops_records_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(small_segments(dir.path())).await.unwrap();
        for chunk in 0..4u64 {
            let mut records = Vec::new();
            for v in chunk * 50 + 1..=chunk * 50 + 50 {
                let op = Operation::new("put", format!("{v:0>200}"));
                records.push(Record::Prepare { version: v, op });
            }
            records.push(Record::Commit {
                through: chunk * 50 + 50,
            });
            store.persist(records).await.unwrap();
        }
        // Nothing to compact below without a snapshot.
        store.compact(100).await.unwrap();
        assert_eq!(store.state().base(), 0);
        let snapshot = Snapshot {
            version: 150,
            data: bytes::Bytes::from_static(b"state at 150"),
        };
        store.save_snapshot(snapshot.clone()).await.unwrap();
        store.compact(180).await.unwrap(); // clamped to the snapshot
        let (base, held) = {
            let s = store.state();
            (s.base(), s.held())
        };
        assert_eq!((base, held), (150, 50));
        assert!(store.file().first_version() > 1, "no local record dropped");
        store.file().close().await.unwrap();
        drop(store);

        let store = Store::open(small_segments(dir.path())).await.unwrap();
        let s = store.state().clone();
        assert_eq!((s.base(), s.committed(), s.last()), (150, 200, 200));
        assert_eq!(s.get(151).unwrap().data, format!("{:0>200}", 151));
        assert_eq!(store.load_snapshot().await.unwrap(), Some(snapshot));
        assert_eq!(store.snapshot_version(), Some(150));
    }
}
