//! The stream layer: one encoding of a log entry, the *frame*, used everywhere an entry lives
//! (the log file, the core's memory, the wire).
//!
//! Replication is stream-oriented (Tupl's design): the leader ships byte ranges of its encoded
//! log, addressed by position, cut at any byte (so a message stays under
//! [`Config::max_append_bytes`](super::Config::max_append_bytes) however large an entry is), and
//! a follower writes the frames it assembles verbatim: nothing is re-encoded on the way, and a
//! follower's log file holds the same bytes as the leader's for the same entries. Message
//! boundaries are layered on top: a frame is self-delimiting (its length) and self-checking (a
//! CRC32C, the entry's index and the previous entry's term, which chains frames so a torn or
//! spliced stream is detected). Only complete, checked frames reach the log; the bytes of a frame
//! still arriving are held in a volatile buffer that a term change drops, so a leader change never
//! tears an entry.
//!
//! Layout: `len u32 | crc32c u32 | term u64 | index u64 | prev_term u64 | data`, little-endian,
//! where `len` counts the body (`24 + data.len()`) and the CRC covers the body.

use bytes::{BufMut, Bytes, BytesMut};

use crate::core::Entry;

/// The bytes before a frame's data: length, checksum, term, index, previous term.
pub const FRAME_HEADER: usize = 32;
/// The length and checksum words.
const PREFIX: usize = 8;

/// A frame's total length for `data_len` bytes of payload.
pub fn frame_len(data_len: usize) -> usize {
    FRAME_HEADER + data_len
}

/// Appends `e`'s frame; `prev_term` is the term of the entry before it (the chain).
pub fn encode_frame(e: &Entry, prev_term: u64, out: &mut BytesMut) {
    let body_len = FRAME_HEADER - PREFIX + e.data.len();
    let start = out.len();
    out.reserve(PREFIX + body_len);
    out.put_u32_le(body_len as u32);
    out.put_u32_le(0);
    out.put_u64_le(e.term);
    out.put_u64_le(e.index);
    out.put_u64_le(prev_term);
    out.put_slice(&e.data);
    let crc = crc32c::crc32c(&out[start + PREFIX..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends the frames of consecutive `entries`, the first one after an entry of `prev_term`.
pub fn encode_frames(entries: &[Entry], mut prev_term: u64, out: &mut BytesMut) {
    for e in entries {
        encode_frame(e, prev_term, out);
        prev_term = e.term;
    }
}

/// A frame's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub term: u64,
    pub index: u64,
    pub prev_term: u64,
    /// The whole frame's length (header and data).
    pub len: usize,
}

/// What the start of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parse {
    /// A whole frame whose checksum holds.
    Whole(FrameHead),
    /// The beginning of a frame (more bytes are needed).
    Short,
    /// Not a frame: a bad length or checksum.
    Bad,
}

/// Parses the frame at the start of `buf` (its checksum; chaining is the caller's).
pub(crate) fn parse_frame(buf: &[u8]) -> Parse {
    if buf.len() < PREFIX {
        return Parse::Short;
    }
    let word4 = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let (body_len, crc) = (word4(0) as usize, word4(4));
    if body_len < FRAME_HEADER - PREFIX {
        return Parse::Bad;
    }
    let Some(body) = buf.get(PREFIX..PREFIX + body_len) else {
        return Parse::Short;
    };
    if crc32c::crc32c(body) != crc {
        return Parse::Bad;
    }
    let word8 = |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Parse::Whole(FrameHead {
        term: word8(0),
        index: word8(1),
        prev_term: word8(2),
        len: PREFIX + body_len,
    })
}

/// Whether `head` may follow the entry `(prev_index, prev_term)` in a log whose newest term is
/// at most `max_term`.
fn chains(head: &FrameHead, prev_index: u64, prev_term: u64, max_term: u64) -> bool {
    Some(head.index) == prev_index.checked_add(1)
        && head.prev_term == prev_term
        && head.term >= prev_term
        && head.term <= max_term
}

/// Consecutive entries with their frames, held as one buffer (frames back to back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frames {
    /// The frames, back to back.
    pub bytes: Bytes,
    /// Each frame's end in `bytes`.
    ends: Vec<usize>,
    /// The entries (their data are slices of `bytes`).
    pub entries: Vec<Entry>,
}

/// What [`Frames::parse`] found in a buffer.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The complete, checked, chained frames at its start.
    pub frames: Frames,
    /// The bytes after them that begin the next frame (empty when none, or when `bad`).
    pub rest: Bytes,
    /// A frame failed its checksum or chain: it and everything after it were dropped.
    pub bad: bool,
}

impl Frames {
    /// Encodes `entries` (consecutive, the first one after an entry of `prev_term`).
    pub(crate) fn encode(entries: Vec<Entry>, mut prev_term: u64) -> Self {
        let size = entries.iter().map(|e| frame_len(e.data.len())).sum();
        let mut buf = BytesMut::with_capacity(size);
        let mut ends = Vec::with_capacity(entries.len());
        for e in &entries {
            encode_frame(e, prev_term, &mut buf);
            prev_term = e.term;
            ends.push(buf.len());
        }
        let bytes = buf.freeze();
        let mut frames = Self {
            bytes,
            ends,
            entries,
        };
        frames.share_data();
        frames
    }

    /// Points every entry's data into `bytes` (one allocation for both).
    fn share_data(&mut self) {
        for i in 0..self.entries.len() {
            let end = self.ends[i];
            let start = end - self.entries[i].data.len();
            self.entries[i].data = self.bytes.slice(start..end);
        }
    }

    /// Parses the frames at the start of `buf`, the first one after the entry
    /// `(prev_index, prev_term)`, none of a term above `max_term`.
    pub(crate) fn parse(
        buf: Bytes,
        mut prev_index: u64,
        mut prev_term: u64,
        max_term: u64,
    ) -> Parsed {
        let (mut pos, mut ends, mut entries) = (0usize, Vec::new(), Vec::new());
        let mut bad = false;
        loop {
            match parse_frame(&buf[pos..]) {
                Parse::Whole(head) if chains(&head, prev_index, prev_term, max_term) => {
                    let end = pos + head.len;
                    entries.push(Entry {
                        term: head.term,
                        index: head.index,
                        data: buf.slice(pos + FRAME_HEADER..end),
                    });
                    ends.push(end);
                    (pos, prev_index, prev_term) = (end, head.index, head.term);
                }
                Parse::Whole(_) | Parse::Bad => {
                    bad = true;
                    break;
                }
                Parse::Short => break,
            }
        }
        let rest = if bad || pos == buf.len() {
            Bytes::new()
        } else {
            buf.slice(pos..)
        };
        Parsed {
            frames: Self {
                bytes: buf.slice(..pos),
                ends,
                entries,
            },
            rest,
            bad,
        }
    }

    /// Each frame's end, counted from the start of the buffer.
    pub(crate) fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where entry `i`'s frame ends in `bytes`.
    pub(crate) fn frame_end(&self, i: usize) -> usize {
        self.ends[i]
    }

    /// Keeps entries `..at`, returning the others.
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        let cut = if at == 0 { 0 } else { self.ends[at - 1] };
        let bytes = self.bytes.split_off(cut);
        let ends = self
            .ends
            .split_off(at)
            .into_iter()
            .map(|e| e - cut)
            .collect();
        let entries = self.entries.split_off(at);
        Self {
            bytes,
            ends,
            entries,
        }
    }
}
