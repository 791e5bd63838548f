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

/// The capacity a fresh chunk buffer starts with.
const CHUNK_CAPACITY: usize = 64 << 10;
/// A buffer that grew past this (a round with a huge batch) is freed after its round instead of
/// being kept, so one large round does not pin its memory for the log's lifetime.
const MAX_KEPT_CAPACITY: usize = 1 << 20;
/// Buffers kept between rounds: a round usually needs one, two when it rolls to a new segment.
const MAX_KEPT_BUFFERS: usize = 2;

/// Chunk buffers kept across rounds: allocating (and page-faulting) a fresh 64 KiB buffer every
/// round cost measurable CPU per append under load.
#[derive(Default)]
struct BufPool {
    free: Vec<BytesMut>,
}

impl BufPool {
    /// An empty buffer: a kept one if any, else a fresh one.
    fn take(&mut self) -> BytesMut {
        self.free
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(CHUNK_CAPACITY))
    }

    /// Keeps `buf` for a later round unless it grew too large or enough are kept already.
    fn give_back(&mut self, mut buf: BytesMut) {
        if buf.capacity() <= MAX_KEPT_CAPACITY && self.free.len() < MAX_KEPT_BUFFERS {
            buf.clear();
            self.free.push(buf);
        }
    }
}

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
    /// A chunk starting at `seg`'s current end, encoding into `buf` (empty).
    fn new(seg: Arc<Segment>, buf: BytesMut) -> Self {
        debug_assert!(buf.is_empty());
        let start = seg.state().end;
        Self {
            seg,
            start,
            records: Vec::new(),
            buf,
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
    let mut pool = BufPool::default();
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
        let chunks = round(&shared, &mut active, batches, &mut pool);
        chunks.into_iter().for_each(|c| pool.give_back(c.buf));
        if asked_for != Some(active.id) && active.state().end > active.capacity / 2 {
            shared.preparer.request();
            asked_for = Some(active.id);
        }
    }
}

/// Writes and syncs one round; returns its chunks, whose buffers the caller keeps for later rounds.
fn round(
    shared: &Shared,
    active: &mut Arc<Segment>,
    mut batches: Vec<Pending>,
    pool: &mut BufPool,
) -> Vec<Chunk> {
    if let Err(p) = shared.check_poison() {
        batches.into_iter().for_each(|b| b.fail(&p));
        return Vec::new();
    }
    let mut chunks = vec![Chunk::new(active.clone(), pool.take())];
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
            let mut c = Chunk::new(next, pool.take());
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
        return chunks;
    }
    let failed: Vec<Pending> = batches.drain(ok_batches..).collect();
    if let Some(Stop::Rollback { error, .. }) = stop {
        let (ci, off) = starts[ok_batches];
        if let Err(e) = erase(&chunks[ci..], off, failed[0].first) {
            let p = shared.poison(&e);
            failed.into_iter().chain(batches).for_each(|b| b.fail(&p));
            return chunks;
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
        return chunks;
    }
    let c = chunks.last().expect("one chunk at least");
    match c.seg.file.sync_data() {
        Ok(()) => local.into_iter().for_each(Pending::succeed),
        Err(e) => {
            let p = shared.poison(&io_err(format!("fdatasync of {}", c.seg.path.display()), e));
            local.into_iter().for_each(|b| b.fail(&p));
        }
    }
    chunks
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_back_kept_buffers_empty_and_frees_huge_ones() {
        let mut pool = BufPool::default();
        let mut buf = pool.take();
        assert!(buf.is_empty() && buf.capacity() >= CHUNK_CAPACITY);
        buf.extend_from_slice(&[1; 100]);
        let kept_at = buf.as_ptr();
        pool.give_back(buf);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), kept_at, "the same allocation is reused");

        let mut huge = BytesMut::with_capacity(MAX_KEPT_CAPACITY + 1);
        huge.extend_from_slice(&[2; 10]);
        pool.give_back(huge);
        assert!(pool.free.is_empty(), "a buffer a huge round grew is freed");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let mut pool = BufPool::default();
        for _ in 0..MAX_KEPT_BUFFERS + 3 {
            pool.give_back(BytesMut::with_capacity(CHUNK_CAPACITY));
        }
        assert_eq!(pool.free.len(), MAX_KEPT_BUFFERS);
    }
}
