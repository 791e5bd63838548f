//! [`FsStorage`]: a node's disk through the [`Fs`] seam. Three files in one directory:
//! `raft.state` (term and vote), `raft.log` (a header and checksummed, chained entry records) and
//! `raft.snap` (the snapshot image), plus `raft.members` (the membership) once it changed, and
//! `raft.snap.part` while a snapshot is received. The state, the membership, the snapshot and
//! compacted logs are replaced by write, fsync, rename and directory fsync, so a crash leaves the
//! old or the new file, never a mix. Installing a received snapshot renames it over `raft.snap`,
//! then rewrites the log as its end; a crash between the two is finished at the next load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use rig_core::seams::{Fs, FsFile, FsLock};
use rig_core::{Error, Result, Snapshot};

use super::members_file::{decode_membership, encode_membership};
use super::records::{
    corrupt, decode_entries, decode_hard_state, decode_log_header, encode_entry, encode_hard_state,
    encode_log_header, LOG_HEADER,
};
use super::snapshot_file::{decode_snapshot_file, decode_snapshot_image};
use super::{Installed, Loaded, Storage};
use crate::core::stream::frame_len;
use crate::core::{Entry, HardState, Restored, SnapshotImage, SnapshotMeta, StoredMembership};

const STATE: &str = "raft.state";
const LOG: &str = "raft.log";
const SNAP: &str = "raft.snap";
/// An incoming snapshot image, staged chunk by chunk (never read back after a crash).
const STAGED: &str = "raft.snap.part";
const MEMBERS: &str = "raft.members";

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::Io {
        backend: "raft-lite",
        context,
        source: Arc::new(e),
    }
}

/// A node's files in `dir` on `fs`.
///
/// ```
/// use std::{path::Path, sync::Arc};
/// use rig_raft_lite::storage::{FsStorage, Storage};
/// use rig_raft_lite::core::{Entry, HardState};
/// let (fs, disk_ctl) = rig_testkit::simfs::SimFs::new(1);
/// let mut disk = FsStorage::open(Arc::new(fs.clone()), Path::new("/node")).unwrap();
/// disk.save_hard_state(HardState { term: 3, vote: Some(2) }).unwrap();
/// disk.write(&[Entry { term: 3, index: 1, data: bytes::Bytes::from_static(b"x") }]).unwrap();
/// assert_eq!(disk.sync().unwrap(), Some((1, 3)));
/// disk_ctl.crash();
/// let mut disk = FsStorage::open(Arc::new(fs), Path::new("/node")).unwrap();
/// let loaded = disk.load().unwrap();
/// assert_eq!(loaded.restored.hard_state.term, 3);
/// assert_eq!(loaded.restored.entries.len(), 1);
/// ```
#[derive(Debug)]
pub struct FsStorage {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    _lock: Box<dyn FsLock>,
    log: Box<dyn FsFile>,
    offset: u64,
    offset_term: u64,
    base_version: u64,
    /// Index, term and end position of each entry after `offset`.
    entries: Vec<(u64, u64, u64)>,
    /// The incoming image's file, while one is staged.
    staged: Option<Box<dyn FsFile>>,
}

impl FsStorage {
    /// Opens (creating when absent) the node's files in `dir`, locking the directory.
    pub fn open(fs: Arc<dyn Fs>, dir: &Path) -> Result<Self> {
        fs.create_dir_all(dir)
            .map_err(io(format!("create {}", dir.display())))?;
        let lock = fs
            .lock(&dir.join("raft.lock"))
            .map_err(io("lock the raft directory"))?;
        if !fs.exists(&dir.join(LOG)).map_err(io("stat the log"))? {
            replace(fs.as_ref(), dir, LOG, &encode_log_header(0, 0, 0))?;
        }
        let log = fs.open(&dir.join(LOG), false).map_err(io("open the log"))?;
        let mut s = Self {
            fs,
            dir: dir.to_path_buf(),
            _lock: lock,
            log,
            offset: 0,
            offset_term: 0,
            base_version: 0,
            entries: Vec::new(),
            staged: None,
        };
        s.scan()?;
        Ok(s)
    }

    fn read_all(file: &dyn FsFile, what: &str) -> Result<Vec<u8>> {
        let len = file.len().map_err(io(format!("size of {what}")))? as usize;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, 0)
            .map_err(io(format!("read {what}")))?;
        Ok(buf)
    }

    /// Reads the log, keeping the valid chain of records and dropping a torn tail.
    fn scan(&mut self) -> Result<Vec<Entry>> {
        let buf = Self::read_all(self.log.as_ref(), "the log")?;
        let (offset, offset_term, base_version) = decode_log_header(&buf)?;
        let (entries, ends) = decode_entries(&buf[LOG_HEADER..], LOG_HEADER, offset, offset_term);
        (self.offset, self.offset_term, self.base_version) = (offset, offset_term, base_version);
        self.entries = entries
            .iter()
            .zip(&ends)
            .map(|(e, &end)| (e.index, e.term, end))
            .collect();
        let end = ends.last().copied().unwrap_or(LOG_HEADER as u64);
        if end < buf.len() as u64 {
            self.log
                .set_len(end)
                .map_err(io("truncate the log's torn tail"))?;
            self.log.sync_data().map_err(io("sync the log"))?;
        }
        Ok(entries)
    }

    /// Drops entries at or after `first` (durably, when the file held any), returning the
    /// term of the entry before it (the next record's chain).
    fn truncate_before(&mut self, first: u64) -> Result<u64> {
        let keep = (first - self.offset - 1) as usize;
        self.entries.truncate(keep);
        let start = self.end();
        let file_len = self.log.len().map_err(io("size of the log"))?;
        if file_len > start {
            // A conflict (rare): make the truncation durable first, so a crash can never revive
            // the dropped tail behind entries that were written after it.
            self.log.set_len(start).map_err(io("truncate the log"))?;
            self.log
                .sync_data()
                .map_err(io("sync the log's truncation"))?;
        }
        Ok(self.entries.last().map_or(self.offset_term, |e| e.1))
    }

    /// Appends `records` (the records of `entries`, back to back) at the log's end.
    fn append_records(&mut self, entries: &[Entry], records: &[u8]) -> Result<()> {
        let start = self.end();
        let mut end = start;
        for e in entries {
            end += frame_len(e.data.len()) as u64;
            self.entries.push((e.index, e.term, end));
        }
        self.log
            .write_at(records, start)
            .map_err(io("append to the log"))
    }

    fn end(&self) -> u64 {
        self.entries.last().map_or(LOG_HEADER as u64, |e| e.2)
    }

    /// The snapshot file, decoded.
    fn read_snapshot(&self) -> Result<Option<SnapshotFile>> {
        let path = self.dir.join(SNAP);
        if !self.fs.exists(&path).map_err(io("stat the snapshot"))? {
            return Ok(None);
        }
        let f = self
            .fs
            .open(&path, false)
            .map_err(io("open the snapshot"))?;
        let buf = Self::read_all(f.as_ref(), "the snapshot")?;
        let (meta, snapshot) = decode_snapshot_file(&buf)?;
        Ok(Some(SnapshotFile {
            meta,
            snapshot,
            bytes: buf,
        }))
    }

    /// Whether the log holds `meta`'s last entry (or is compacted exactly through it).
    fn holds(&self, meta: &SnapshotMeta) -> bool {
        if meta.index == self.offset {
            return meta.term == self.offset_term;
        }
        self.entries
            .iter()
            .any(|e| e.0 == meta.index && e.1 == meta.term)
    }

    /// Replaces the log by the end of a snapshot at `meta` (`version` its engine version).
    fn reset_log(&mut self, meta: &SnapshotMeta, version: u64) -> Result<()> {
        let header = encode_log_header(meta.index, meta.term, version);
        replace(self.fs.as_ref(), &self.dir, LOG, &header)?;
        self.log = self
            .fs
            .open(&self.dir.join(LOG), false)
            .map_err(io("reopen the log"))?;
        self.entries.clear();
        (self.offset, self.offset_term, self.base_version) = (meta.index, meta.term, version);
        Ok(())
    }
}

/// `raft.snap` as read: its meta (`None` for a part 1 file), the engine snapshot, the raw image.
struct SnapshotFile {
    meta: Option<SnapshotMeta>,
    snapshot: Snapshot,
    bytes: Vec<u8>,
}

/// Writes `name` in `dir` atomically: a temporary file, fsync, rename, directory fsync.
fn replace(fs: &dyn Fs, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let f = fs
        .open(&tmp, true)
        .map_err(io(format!("create {name}.tmp")))?;
    f.set_len(0).map_err(io(format!("truncate {name}.tmp")))?;
    f.write_at(bytes, 0)
        .map_err(io(format!("write {name}.tmp")))?;
    f.sync_all().map_err(io(format!("sync {name}.tmp")))?;
    fs.rename(&tmp, &dir.join(name))
        .map_err(io(format!("rename {name}")))?;
    fs.sync_dir(dir).map_err(io("sync the raft directory"))
}

impl Storage for FsStorage {
    fn load(&mut self) -> Result<Loaded> {
        let state = self.dir.join(STATE);
        let hard_state = if self.fs.exists(&state).map_err(io("stat the hard state"))? {
            let f = self
                .fs
                .open(&state, false)
                .map_err(io("open the hard state"))?;
            decode_hard_state(&Self::read_all(f.as_ref(), "the hard state")?)?
        } else {
            HardState::default()
        };
        let members = self.dir.join(MEMBERS);
        let membership = if self
            .fs
            .exists(&members)
            .map_err(io("stat the membership"))?
        {
            let f = self
                .fs
                .open(&members, false)
                .map_err(io("open the membership"))?;
            Some(decode_membership(&Self::read_all(
                f.as_ref(),
                "the membership",
            )?)?)
        } else {
            None
        };
        let mut entries = self.scan()?;
        let mut image = None;
        if let Some(SnapshotFile {
            meta: Some(meta),
            snapshot,
            bytes,
        }) = self.read_snapshot()?
        {
            if meta.index > self.offset && !self.holds(&meta) {
                // A crash in the middle of an install: finish it.
                self.reset_log(&meta, snapshot.version)?;
                entries.clear();
            }
            image = Some(SnapshotImage {
                meta,
                bytes: bytes.into(),
            });
        }
        Ok(Loaded {
            restored: Restored {
                hard_state,
                snapshot_index: self.offset,
                snapshot_term: self.offset_term,
                entries,
                membership,
                snapshot: image,
            },
            base_version: self.base_version,
        })
    }

    fn save_hard_state(&mut self, hs: HardState) -> Result<()> {
        replace(self.fs.as_ref(), &self.dir, STATE, &encode_hard_state(hs))
    }

    fn save_membership(&mut self, membership: &StoredMembership) -> Result<()> {
        let bytes = encode_membership(membership);
        replace(self.fs.as_ref(), &self.dir, MEMBERS, &bytes)
    }

    fn write(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let prev_term = self.truncate_before(first.index)?;
        let mut buf = BytesMut::new();
        let mut prev = prev_term;
        for e in entries {
            encode_entry(e, prev, &mut buf);
            prev = e.term;
        }
        self.append_records(entries, &buf)
    }

    fn write_frames(&mut self, entries: &[Entry], frames: &[u8]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let expected: usize = entries.iter().map(|e| frame_len(e.data.len())).sum();
        if frames.len() != expected {
            return Err(corrupt(
                "raft frames",
                format!("{} bytes for {expected} of records", frames.len()),
            ));
        }
        self.truncate_before(first.index)?;
        self.append_records(entries, frames)
    }

    fn sync(&mut self) -> Result<Option<(u64, u64)>> {
        self.log.sync_data().map_err(io("sync the log"))?;
        Ok(self
            .entries
            .last()
            .map(|e| (e.0, e.1))
            .or(Some((self.offset, self.offset_term)))
            .filter(|e| e.0 > 0))
    }

    fn compact(&mut self, through: u64, base_version: u64) -> Result<()> {
        let Some(pos) = self.entries.iter().position(|e| e.0 == through) else {
            return Ok(());
        };
        let (_, term, cut) = self.entries[pos];
        let buf = Self::read_all(self.log.as_ref(), "the log")?;
        let mut out = encode_log_header(through, term, base_version);
        out.extend_from_slice(&buf[cut as usize..self.end() as usize]);
        replace(self.fs.as_ref(), &self.dir, LOG, &out)?;
        self.log = self
            .fs
            .open(&self.dir.join(LOG), false)
            .map_err(io("reopen the log"))?;
        let shift = cut - LOG_HEADER as u64;
        self.entries.drain(..=pos);
        for e in &mut self.entries {
            e.2 -= shift;
        }
        (self.offset, self.offset_term, self.base_version) = (through, term, base_version);
        Ok(())
    }

    fn save_snapshot(&mut self, image: &SnapshotImage) -> Result<()> {
        replace(self.fs.as_ref(), &self.dir, SNAP, &image.bytes)
    }

    fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        Ok(self.read_snapshot()?.map(|f| f.snapshot))
    }

    fn stage_snapshot(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if offset == 0 || self.staged.is_none() {
            let f = self
                .fs
                .open(&self.dir.join(STAGED), true)
                .map_err(io("create the staged snapshot"))?;
            f.set_len(0).map_err(io("truncate the staged snapshot"))?;
            self.staged = Some(f);
        }
        let f = self.staged.as_ref().expect("opened above");
        f.write_at(data, offset)
            .map_err(io("write the staged snapshot"))
    }

    fn install_snapshot(&mut self, total: u64) -> Result<Option<Installed>> {
        let Some(f) = self.staged.take() else {
            return Ok(None);
        };
        let buf = Self::read_all(f.as_ref(), "the staged snapshot")?;
        drop(f);
        self.fs
            .remove_file(&self.dir.join(STAGED))
            .map_err(io("remove the staged snapshot"))?;
        let decoded = (buf.len() as u64 == total)
            .then(|| decode_snapshot_image(&buf).ok())
            .flatten();
        let Some((meta, snapshot)) = decoded else {
            return Ok(None);
        };
        // The snapshot first: a crash before the log is rewritten is finished by `load`.
        replace(self.fs.as_ref(), &self.dir, SNAP, &buf)?;
        self.reset_log(&meta, snapshot.version)?;
        let image = SnapshotImage {
            meta,
            bytes: buf.into(),
        };
        Ok(Some(Installed { image, snapshot }))
    }
}
