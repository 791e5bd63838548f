//! Opening a log directory: scan every segment, verify every record, repair a torn tail.
//!
//! Rules:
//! - A bad header anywhere, a bad record in any segment but the last one holding data, or a gap
//!   in versions between segments is [`Error::Corrupt`] naming the file and offset.
//! - In the last segment holding data, a bad or incomplete record is a torn tail only when no
//!   verifying record follows it anywhere in that segment; then the tail is zeroed and synced.
//!   If a verifying record follows, dropping the bad one would silently lose data: `Corrupt`.
//! - Empty segments (a spare prepared before a crash) go to the free pool for reuse.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rig_core::codec::{self, RecordRead, RECORD_HEADER_LEN};
use rig_core::seams::Fs;
use rig_core::{Error, Result};

use crate::errors::io_err;
use crate::preparer::{free_name, parse_free_name};
use crate::segment::{self, SegState, Segment, HEADER_LEN};

/// What a directory held.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Segments holding data, oldest first, then the segment to append to (possibly empty).
    /// Empty when the directory held no segment.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// The last version in the segments (0 when none).
    pub(crate) last_version: u64,
    /// The id for the next new segment.
    pub(crate) next_id: u64,
    /// Files of the free pool.
    pub(crate) free: Vec<PathBuf>,
    /// The directory's entries after cleanup.
    pub(crate) names: Vec<String>,
}

/// A problem found while scanning a segment: where and what.
type Problem = (u64, String);

struct Scanned {
    seg: Arc<Segment>,
    problem: Option<Problem>,
}

fn ctx(what: &str, path: &Path) -> String {
    format!("{what} {}", path.display())
}

/// Scans `dir` (which must exist and be locked by the caller).
pub(crate) fn recover(fs: &dyn Fs, dir: &Path) -> Result<Recovered> {
    let mut names = fs
        .list_dir(dir)
        .map_err(|e| io_err(ctx("listing", dir), e))?;
    let mut next_id = 1;
    let tmps: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".tmp"))
        .cloned()
        .collect();
    for n in &tmps {
        // An interrupted segment preparation or snapshot save: never part of the log.
        if let Some(id) = segment::parse_name(n.trim_end_matches(".tmp")) {
            next_id = next_id.max(id + 1);
        }
        fs.remove_file(&dir.join(n))
            .map_err(|e| io_err(ctx("removing", &dir.join(n)), e))?;
    }
    if !tmps.is_empty() {
        fs.sync_dir(dir)
            .map_err(|e| io_err(ctx("syncing directory", dir), e))?;
        names.retain(|n| !n.ends_with(".tmp"));
    }
    let mut free = Vec::new();
    let mut ids = Vec::new();
    for n in &names {
        if let Some(id) = parse_free_name(n) {
            free.push(dir.join(n));
            next_id = next_id.max(id + 1);
        } else if let Some(id) = segment::parse_name(n) {
            ids.push(id);
            next_id = next_id.max(id + 1);
        }
    }
    ids.sort_unstable();
    let mut scanned = Vec::with_capacity(ids.len());
    // One buffer for every segment: a segment is read whole, and only one is held at a time.
    let mut buf = Vec::new();
    for id in ids {
        scanned.push(scan(fs, dir, id, &mut buf)?);
    }
    let last_with_data = scanned
        .iter()
        .rposition(|s| s.problem.is_some() || s.seg.state().first.is_some());
    let mut expected: Option<(u64, &Segment)> = None;
    for (i, s) in scanned.iter().enumerate() {
        if let Some((offset, reason)) = &s.problem {
            if Some(i) != last_with_data {
                return Err(Error::corrupt(s.seg.at(*offset), reason.clone()));
            }
            repair_tail(s, *offset, reason, &mut buf)?;
        }
        let st = s.seg.snapshot();
        if let Some(first) = st.first {
            if let Some((want, prev)) = expected {
                if first != want {
                    return Err(Error::corrupt(
                        s.seg.at(HEADER_LEN),
                        format!(
                            "segment starts at version {first} but {} ends at version {}",
                            prev.path.display(),
                            want - 1
                        ),
                    ));
                }
            }
            expected = Some((st.last + 1, &s.seg));
        }
    }
    let last_version = expected.map_or(0, |(next, _)| next - 1);
    // Keep every segment with data, and the segment to append to: the last one with data, or
    // the first empty one when none has data. Other empty segments are spares left by a crash.
    let active = last_with_data.or(if scanned.is_empty() { None } else { Some(0) });
    let mut segments = Vec::new();
    let mut moved = false;
    for (i, s) in scanned.into_iter().enumerate() {
        if Some(i) == active || s.seg.state().first.is_some() {
            segments.push(s.seg);
            continue;
        }
        let to = dir.join(free_name(s.seg.id));
        fs.rename(&s.seg.path, &to)
            .map_err(|e| io_err(ctx("moving to the free pool", &s.seg.path), e))?;
        free.push(to);
        moved = true;
    }
    if moved {
        fs.sync_dir(dir)
            .map_err(|e| io_err(ctx("syncing directory", dir), e))?;
        names = fs
            .list_dir(dir)
            .map_err(|e| io_err(ctx("listing", dir), e))?;
    }
    Ok(Recovered {
        segments,
        last_version,
        next_id,
        free,
        names,
    })
}

/// Reads and verifies one segment, stopping at the first record that does not verify.
fn scan(fs: &dyn Fs, dir: &Path, id: u64, buf: &mut Vec<u8>) -> Result<Scanned> {
    let path = dir.join(segment::file_name(id));
    let file = fs
        .open(&path, false)
        .map_err(|e| io_err(ctx("opening", &path), e))?;
    let len = file
        .len()
        .map_err(|e| io_err(ctx("reading the length of", &path), e))?;
    buf.resize(len as usize, 0);
    file.read_exact_at(buf, 0)
        .map_err(|e| io_err(ctx("reading", &path), e))?;
    let buf = &buf[..];
    segment::check_header(buf, id, &path)?;
    let seg = Arc::new(Segment::new(
        id,
        path,
        Arc::from(file),
        len,
        SegState::empty(),
    ));
    let mut st = SegState::empty();
    let mut off = HEADER_LEN as usize;
    let mut problem = None;
    while off < buf.len() {
        match codec::decode_record(&buf[off..], seg.salt) {
            RecordRead::Record { payload, len } => {
                if st.first.is_some() && payload.version != st.last + 1 {
                    let reason = format!(
                        "record holds version {} where {} was expected",
                        payload.version,
                        st.last + 1
                    );
                    problem = Some((off as u64, reason));
                    break;
                }
                st.push(payload.version, off as u64, len as u64);
                off += len;
            }
            RecordRead::Empty => {
                if let Some(nz) = buf[off..].iter().position(|b| *b != 0) {
                    let reason = format!(
                        "non-zero bytes at offset {} after the last record",
                        off + nz
                    );
                    problem = Some((off as u64, reason));
                }
                break;
            }
            RecordRead::Incomplete => {
                problem = Some((
                    off as u64,
                    "record runs past the end of the segment".to_owned(),
                ));
                break;
            }
            RecordRead::Corrupt(e) => {
                problem = Some((off as u64, e.to_string()));
                break;
            }
        }
    }
    *seg.state() = st;
    Ok(Scanned { seg, problem })
}

/// The offset of the first verifying record starting after `from`, if any.
fn next_valid_record(buf: &[u8], salt: u64, from: usize) -> Option<usize> {
    let mut q = from;
    while q + RECORD_HEADER_LEN <= buf.len() {
        // Most of a segment's tail is zeros: skip offsets whose length field is zero cheaply.
        if buf[q..q + 4] != [0; 4] {
            if let RecordRead::Record { .. } = codec::decode_record(&buf[q..], salt) {
                return Some(q);
            }
        }
        q += 1;
    }
    None
}

/// Zeroes a torn tail at `offset` of the last segment, unless a verifying record follows it.
fn repair_tail(s: &Scanned, offset: u64, reason: &str, buf: &mut Vec<u8>) -> Result<()> {
    buf.resize(s.seg.capacity as usize, 0);
    s.seg
        .file
        .read_exact_at(buf, 0)
        .map_err(|e| io_err(ctx("reading", &s.seg.path), e))?;
    if let Some(q) = next_valid_record(buf, s.seg.salt, offset as usize + 1) {
        return Err(Error::corrupt(
            s.seg.at(offset),
            format!("{reason}, and a valid record follows at offset {q}: not a torn tail"),
        ));
    }
    let end = buf
        .iter()
        .rposition(|b| *b != 0)
        .map_or(offset, |i| i as u64 + 1)
        .max(offset);
    tracing::warn!(file = %s.seg.path.display(), offset, reason, "repairing a torn tail");
    s.seg.zero(offset, end)?;
    s.seg
        .file
        .sync_data()
        .map_err(|e| io_err(ctx("fdatasync of", &s.seg.path), e))
}
