//! The core's view of the log: entries after the last compaction point, in memory, each with its
//! frame (see [`stream`](super::stream)) and its end position in this node's stream.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::state::Entry;
use super::stream::Frames;

/// The frames of consecutive entries as one buffer (as encoded or received together): a range
/// of the stream inside one batch is a slice of it, not a copy.
#[derive(Debug, Clone)]
struct Batch {
    /// The index of its first entry.
    first: u64,
    /// The stream position where its first frame starts.
    pos: u64,
    /// The frames, back to back (past a truncation, the tail no longer belongs to the log).
    bytes: Bytes,
}

/// Entries `offset+1 ..= last`, plus the index and term of the compaction point.
///
/// Positions count the bytes of the frames from the start of this node's stream (0 at the
/// compaction point it started from); they are node-local and stable while the node runs
/// (compaction does not move them), which is all a leader needs to address the ranges it ships.
#[derive(Debug, Clone, Default)]
pub struct MemLog {
    /// The index of the last compacted entry (0 when nothing was compacted).
    offset: u64,
    /// Its term.
    offset_term: u64,
    /// Its end position.
    offset_pos: u64,
    entries: Vec<Entry>,
    /// The frames, one buffer per append (held once per batch rather than once per entry:
    /// each extra handle is a reference count touched per entry).
    batches: VecDeque<Batch>,
    /// Each entry's end position.
    ends: Vec<u64>,
}

impl MemLog {
    /// A log restored from storage: the compaction point and the entries after it.
    pub fn restore(offset: u64, offset_term: u64, entries: Vec<Entry>) -> Self {
        debug_assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == offset + 1 + i as u64));
        let mut log = Self {
            offset,
            offset_term,
            ..Self::default()
        };
        log.append_frames(Frames::encode(entries, offset_term));
        log
    }

    /// The last index (the compaction point when empty).
    pub fn last_index(&self) -> u64 {
        self.offset + self.entries.len() as u64
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The compaction point.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The term at `index`, if the log knows it (the compaction point included).
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        if index < self.offset || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.offset - 1) as usize].term)
    }

    /// The stream position where entry `index` ends (the compaction point included).
    pub fn end_pos(&self, index: u64) -> Option<u64> {
        if index == self.offset {
            return Some(self.offset_pos);
        }
        if index < self.offset || index > self.last_index() {
            return None;
        }
        Some(self.ends[(index - self.offset - 1) as usize])
    }

    /// The length of entry `index`'s frame (above the compaction point).
    pub fn frame_len(&self, index: u64) -> Option<usize> {
        let start = self.end_pos(index.checked_sub(1)?)?;
        let end = self.end_pos(index).filter(|_| index > self.offset)?;
        Some((end - start) as usize)
    }

    /// Entry `index`'s frame (above the compaction point).
    pub fn frame(&self, index: u64) -> Option<Bytes> {
        let len = self.frame_len(index)? as u64;
        let end = self.end_pos(index)?;
        Some(self.span(index, end - len, end))
    }

    /// Entries `from ..= to`, at most `max`; `from` must be above the compaction point.
    pub fn slice(&self, from: u64, to: u64, max: usize) -> Vec<Entry> {
        let (start, end) = self.bounds(from, to, max);
        self.entries
            .get(start..end)
            .map_or(Vec::new(), <[Entry]>::to_vec)
    }

    /// The frames of entries `from ..= to`, at most `max` of them and, past the first, at most
    /// `max_bytes` bytes, back to back.
    pub fn frames(&self, from: u64, to: u64, max: usize, max_bytes: usize) -> Bytes {
        let (start, end) = self.bounds(from, to, max);
        if start == end {
            return Bytes::new();
        }
        let first_pos = self.end_pos(from - 1).expect("in the log");
        let mut last_end = first_pos;
        for &e in &self.ends[start..end] {
            if last_end != first_pos && (e - first_pos) as usize > max_bytes {
                break;
            }
            last_end = e;
        }
        self.span(from, first_pos, last_end)
    }

    /// Vector bounds of `from ..= to` capped at `max` entries (empty when out of the log).
    fn bounds(&self, from: u64, to: u64, max: usize) -> (usize, usize) {
        if from <= self.offset || from > to || from > self.last_index() {
            return (0, 0);
        }
        let to = to.min(self.last_index());
        let start = (from - self.offset - 1) as usize;
        let end = ((to - self.offset) as usize).min(start.saturating_add(max));
        (start, end)
    }

    /// The stream from byte `skip` of entry `next`'s frame: at most `max_bytes` bytes (at least
    /// one) touching at most `max_frames` frames. Returns the bytes and where the stream stands
    /// after them (the entry whose frame is next, and how much of it was sent).
    pub fn read_stream(
        &self,
        next: u64,
        skip: usize,
        max_bytes: usize,
        max_frames: usize,
    ) -> (Bytes, u64, usize) {
        let Some(frame_start) = next.checked_sub(1).and_then(|p| self.end_pos(p)) else {
            return (Bytes::new(), next, skip);
        };
        let from_pos = frame_start + skip as u64;
        let first = next;
        let (mut next, mut skip) = (next, skip);
        let max_bytes = max_bytes.max(1);
        let (mut size, mut touched) = (0usize, 0usize);
        while size < max_bytes && touched < max_frames.max(1) {
            let Some(len) = self.frame_len(next) else {
                break;
            };
            let take = (len - skip).min(max_bytes - size);
            size += take;
            touched += 1;
            if skip + take == len {
                (next, skip) = (next + 1, 0);
            } else {
                skip += take;
            }
        }
        if size == 0 {
            return (Bytes::new(), next, skip);
        }
        (
            self.span(first, from_pos, from_pos + size as u64),
            next,
            skip,
        )
    }

    /// The stream bytes `from_pos .. to_pos`, which start inside entry `first`'s frame: a slice
    /// of one batch when they lie in one (the common case), else the pieces copied together.
    fn span(&self, first: u64, from_pos: u64, to_pos: u64) -> Bytes {
        if from_pos >= to_pos {
            return Bytes::new();
        }
        let mut k = self.batches.partition_point(|b| b.first <= first) - 1;
        let mut parts: Vec<Bytes> = Vec::new();
        let mut pos = from_pos;
        while pos < to_pos {
            let b = &self.batches[k];
            let batch_end = self
                .batches
                .get(k + 1)
                .map_or(b.pos + b.bytes.len() as u64, |n| n.pos);
            let end = to_pos.min(batch_end);
            parts.push(
                b.bytes
                    .slice((pos - b.pos) as usize..(end - b.pos) as usize),
            );
            pos = end;
            k += 1;
        }
        concat(&parts)
    }

    /// Appends entries, dropping any existing entry at or after the first one's index.
    pub fn truncate_append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        self.truncate(first.index);
        let prev_term = self.last_term();
        self.append_frames(Frames::encode(entries.to_vec(), prev_term));
    }

    /// Appends entries with their frames (as received or encoded), dropping any existing entry
    /// at or after the first one's index.
    pub(crate) fn truncate_append_frames(&mut self, frames: Frames) {
        let Some(first) = frames.entries.first() else {
            return;
        };
        self.truncate(first.index);
        self.append_frames(frames);
    }

    fn truncate(&mut self, first: u64) {
        debug_assert!(first > self.offset && first <= self.last_index() + 1);
        let keep = (first - self.offset - 1) as usize;
        self.entries.truncate(keep);
        self.ends.truncate(keep);
        while self.batches.back().is_some_and(|b| b.first >= first) {
            self.batches.pop_back();
        }
    }

    fn append_frames(&mut self, frames: Frames) {
        let Some(first) = frames.entries.first() else {
            return;
        };
        let pos = self.ends.last().copied().unwrap_or(self.offset_pos);
        self.batches.push_back(Batch {
            first: first.index,
            pos,
            bytes: frames.bytes.clone(),
        });
        self.ends
            .extend((0..frames.len()).map(|i| pos + frames.frame_end(i) as u64));
        self.entries.extend(frames.entries);
    }

    /// Whether a candidate with this last entry is at least as up to date as this log.
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Drops entries through `index` (which must be in the log).
    pub fn compact(&mut self, index: u64) {
        if index <= self.offset {
            return;
        }
        let (Some(term), Some(pos)) = (self.term(index), self.end_pos(index)) else {
            return;
        };
        let n = (index - self.offset) as usize;
        self.entries.drain(..n);
        self.ends.drain(..n);
        // Batches whose every entry is compacted.
        while self.batches.get(1).is_some_and(|b| b.first <= index + 1) {
            self.batches.pop_front();
        }
        if self.entries.is_empty() {
            self.batches.clear();
        }
        (self.offset, self.offset_term, self.offset_pos) = (index, term, pos);
    }

    /// Every entry held (after the compaction point).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// `parts` back to back (no copy for a single part).
fn concat(parts: &[Bytes]) -> Bytes {
    match parts {
        [] => Bytes::new(),
        [one] => one.clone(),
        _ => {
            let mut buf = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            parts.iter().for_each(|p| buf.extend_from_slice(p));
            buf.freeze()
        }
    }
}
