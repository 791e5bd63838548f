//! The core's view of the log: entries after the last compaction point, in memory.

use super::state::Entry;

/// Entries `offset+1 ..= last`, plus the index and term of the compaction point.
#[derive(Debug, Clone, Default)]
pub struct MemLog {
    /// The index of the last compacted entry (0 when nothing was compacted).
    offset: u64,
    /// Its term.
    offset_term: u64,
    entries: Vec<Entry>,
}

impl MemLog {
    /// A log restored from storage: the compaction point and the entries after it.
    pub fn restore(offset: u64, offset_term: u64, entries: Vec<Entry>) -> Self {
        debug_assert!(entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == offset + 1 + i as u64));
        Self {
            offset,
            offset_term,
            entries,
        }
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

    /// Entries `from ..= to`, at most `max`; `from` must be above the compaction point.
    pub fn slice(&self, from: u64, to: u64, max: usize) -> Vec<Entry> {
        if from <= self.offset || from > to {
            return Vec::new();
        }
        let to = to.min(self.last_index());
        let start = (from - self.offset - 1) as usize;
        let end = ((to - self.offset) as usize).min(start.saturating_add(max));
        self.entries
            .get(start..end)
            .map_or(Vec::new(), <[Entry]>::to_vec)
    }

    /// Appends entries, dropping any existing entry at or after the first one's index.
    pub fn truncate_append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        debug_assert!(first.index > self.offset && first.index <= self.last_index() + 1);
        self.entries
            .truncate((first.index - self.offset - 1) as usize);
        self.entries.extend_from_slice(entries);
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
        let Some(term) = self.term(index) else { return };
        self.entries.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
    }

    /// Every entry held (after the compaction point).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}
