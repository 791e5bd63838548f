//! The writer thread: group commit.
//!
//! Each round takes every queued batch at once (under the queue lock, briefly), encodes them into
//! one buffer, writes it with one positioned write per segment touched, resolves the `Applied`
//! batches, then covers the whole round with ONE fdatasync and resolves the `Local` ones. No lock
//! is held while writing or syncing, so appends that arrive meanwhile queue up and form the next
//! round.
//!
//! Failures:
//! - A failed fsync poisons the log: nothing after it is acknowledged and it is never retried.
//! - A full disk (on a write or while preparing the next segment) fails the batch that hit it and
//!   every batch after it, erases their bytes, and hands their versions back (`next_version`
//!   rolls back), so the log stays gap-free and works again once space is freed.
//! - Any other write error poisons the log.

use std::sync::Arc;

use bytes::BytesMut;
use rig_core::{codec, Durability, Error};

use crate::errors::{io_err, is_disk_full};
use crate::segment::{Segment, HEADER_LEN};
use crate::shared::{Pending, Shared};

/// A write of one round to one segment, attempted or done.
struct Chunk {
    seg: Arc<Segment>,
    /// Where the chunk starts in the segment.
    start: u64,
    /// `(version, offset, len)` of every record in the chunk.
    records: Vec<(u64, u64, u64)>,
    /// Bytes encoded so far.
    buf: BytesMut,
}

impl Chunk {
    fn new(seg: Arc<Segment>) -> Self {
        let start = seg.state().end;
        Self {
            seg,
            start,
            records: Vec::new(),
            buf: BytesMut::with_capacity(64 << 10),
        }
    }

    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }
}

/// Why a round stopped early.
enum Stop {
    /// Fail the batch holding `from_version` and every later one, and roll their versions back.
    Rollback { from_version: u64, error: Error },
    /// Poison the log.
    Fatal(Error),
}

/// Runs the writer until the log closes (queue drained) or is dropped.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut active = shared
        .segments()
        .last()
        .cloned()
        .expect("recovery leaves an active segment");
    // The segment a spare was last asked for: once per segment, when it is half full.
    let mut asked_for = None;
    loop {
        let batches = {
            let mut q = shared.queue();
            while q.batches.is_empty() && !q.closing {
                q = shared.queue_cv.wait(q).expect("append queue lock");
            }
            if q.batches.is_empty() {
                return;
            }
            std::mem::take(&mut q.batches)
        };
        round(&shared, &mut active, batches);
        if asked_for != Some(active.id) && active.state().end > active.capacity / 2 {
            shared.preparer.request();
            asked_for = Some(active.id);
        }
    }
}

fn round(shared: &Shared, active: &mut Arc<Segment>, mut batches: Vec<Pending>) {
    if let Err(p) = shared.check_poison() {
        batches.into_iter().for_each(|b| b.fail(&p));
        return;
    }
    let mut chunks = vec![Chunk::new(active.clone())];
    // `(chunk index, offset)` where each batch starts, for erasing it on rollback.
    let mut starts = Vec::with_capacity(batches.len());
    let mut stop = None;
    'batches: for batch in &batches {
        let c = chunks.last().expect("one chunk at least");
        starts.push((chunks.len() - 1, c.end()));
        for p in &batch.payloads {
            let c = chunks.last_mut().expect("one chunk at least");
            let before = c.buf.len();
            codec::encode_record(p, c.seg.salt, &mut c.buf);
            if c.end() <= c.seg.capacity {
                let len = (c.buf.len() - before) as u64;
                c.records.push((p.version, c.start + before as u64, len));
                continue;
            }
            // The record does not fit: write and sync what this segment got, then roll.
            c.buf.truncate(before);
            if let Err(s) = flush(c).and_then(|()| sync(c)) {
                stop = Some(s);
                break 'batches;
            }
            let next = match shared.preparer.take() {
                Ok(seg) => seg,
                Err(e) => {
                    stop = Some(if e.is_fatal() {
                        Stop::Fatal(e)
                    } else {
                        Stop::Rollback {
                            from_version: p.version,
                            error: e,
                        }
                    });
                    break 'batches;
                }
            };
            shared
                .segments
                .write()
                .expect("segments lock")
                .push(next.clone());
            *active = next.clone();
            let mut c = Chunk::new(next);
            let before = c.buf.len();
            codec::encode_record(p, c.seg.salt, &mut c.buf);
            // `append` refuses records larger than an empty segment, so this one fits.
            debug_assert!(c.end() <= c.seg.capacity);
            c.records.push((
                p.version,
                c.start + before as u64,
                (c.buf.len() - before) as u64,
            ));
            chunks.push(c);
        }
    }
    if stop.is_none() {
        if let Err(s) = flush(chunks.last().expect("one chunk at least")) {
            stop = Some(s);
        }
    }
    let ok_batches = match &stop {
        None => batches.len(),
        Some(Stop::Rollback { from_version, .. }) => batches
            .iter()
            .position(|b| b.last() >= *from_version)
            .expect("the version belongs to a batch"),
        Some(Stop::Fatal(_)) => 0,
    };
    if let Some(Stop::Fatal(e)) = &stop {
        let p = shared.poison(e);
        batches.into_iter().for_each(|b| b.fail(&p));
        return;
    }
    let failed: Vec<Pending> = batches.drain(ok_batches..).collect();
    if let Some(Stop::Rollback { error, .. }) = stop {
        let (ci, off) = starts[ok_batches];
        if let Err(e) = erase(&chunks[ci..], off, failed[0].first) {
            let p = shared.poison(&e);
            failed.into_iter().chain(batches).for_each(|b| b.fail(&p));
            return;
        }
        roll_back(shared, failed, &error);
    }
    // Everything left was written in full: readable now, durable after the sync.
    if let Some(last) = batches.last().map(Pending::last) {
        shared.committed.advance(last);
    }
    let (applied, local): (Vec<_>, Vec<_>) = batches
        .into_iter()
        .partition(|b| b.durability == Durability::Applied);
    applied.into_iter().for_each(Pending::succeed);
    if local.is_empty() && chunks.iter().all(|c| c.records.is_empty()) {
        return;
    }
    let c = chunks.last().expect("one chunk at least");
    match c.seg.file.sync_data() {
        Ok(()) => local.into_iter().for_each(Pending::succeed),
        Err(e) => {
            let p = shared.poison(&io_err(format!("fdatasync of {}", c.seg.path.display()), e));
            local.into_iter().for_each(|b| b.fail(&p));
        }
    }
}

/// Writes a chunk and records its entries in the segment's state. On a full disk the batch of
/// the chunk's first record and every later one fail; the caller erases whatever part of them
/// reached the file.
fn flush(c: &Chunk) -> Result<(), Stop> {
    let Some(&(from_version, _, _)) = c.records.first() else {
        return Ok(());
    };
    if let Err(e) = c.seg.file.write_at(&c.buf, c.start) {
        let full = is_disk_full(&e);
        let error = io_err(
            format!("writing {} bytes to {}", c.buf.len(), c.seg.at(c.start)),
            e,
        );
        return Err(if full {
            Stop::Rollback {
                from_version,
                error,
            }
        } else {
            Stop::Fatal(error)
        });
    }
    let mut st = c.seg.state();
    for &(v, off, len) in &c.records {
        st.push(v, off, len);
    }
    Ok(())
}

fn sync(c: &Chunk) -> Result<(), Stop> {
    c.seg
        .file
        .sync_data()
        .map_err(|e| Stop::Fatal(io_err(format!("fdatasync of {}", c.seg.path.display()), e)))
}

/// Erases every byte written (or partly written) for versions `first` and later, from `offset`
/// in the first chunk on, forgets those records, and syncs, so no failed entry can reappear
/// after a crash. The space after a segment's end is always zeros (preallocated, repaired or
/// erased), so a region that reads back as zeros needs no write: a full disk that refused the
/// write entirely does not have to accept the erasure.
fn erase(chunks: &[Chunk], offset: u64, first: u64) -> Result<(), Error> {
    for (i, c) in chunks.iter().enumerate() {
        let from = if i == 0 { offset } else { HEADER_LEN };
        let to = c.end().max(from);
        let mut st = c.seg.state();
        if st.first.is_some_and(|f| f >= first) {
            *st = crate::segment::SegState::empty();
        } else if st.first.is_some() && st.last >= first {
            st.index.retain(|(v, _)| *v < first);
            st.last = first - 1;
            st.end = from;
        }
        drop(st);
        let mut landed = vec![0u8; (to - from) as usize];
        c.seg
            .file
            .read_exact_at(&mut landed, from)
            .map_err(|e| io_err(format!("reading back {}", c.seg.at(from)), e))?;
        if landed.iter().all(|b| *b == 0) {
            continue;
        }
        c.seg.zero(from, to)?;
        c.seg
            .file
            .sync_data()
            .map_err(|e| io_err(format!("fdatasync of {}", c.seg.path.display()), e))?;
    }
    Ok(())
}

/// Fails `failed` and every queued batch (all appended after them), and hands their versions
/// back so the next append continues without a gap.
fn roll_back(shared: &Shared, failed: Vec<Pending>, error: &Error) {
    let first = failed[0].first;
    tracing::warn!(error = %error, from_version = first, "append failed; versions rolled back");
    let queued = {
        let mut q = shared.queue();
        q.next_version = first;
        std::mem::take(&mut q.batches)
    };
    failed.into_iter().chain(queued).for_each(|b| b.fail(error));
}
