//! Binary forms of what [`FsStorage`](super::FsStorage) writes. Every format starts with a
//! version byte; an unknown version is `Corrupt`, never misread.

use bytes::{BufMut, Bytes, BytesMut};
use rig_core::codec::Reader;
use rig_core::{Error, Result, Snapshot};

use crate::core::stream::Frames;
use crate::core::{Entry, HardState};

/// The format version of every file.
pub(crate) const FORMAT: u8 = 1;
/// The log file's header: format, compaction index, its term, the version at it.
pub(crate) const LOG_HEADER: usize = 1 + 8 * 3;

pub(crate) fn corrupt(location: &str, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        location: location.to_string(),
        reason: reason.into(),
    }
}

fn checked(location: &str, r: Result<u64, rig_core::codec::CodecError>) -> Result<u64> {
    r.map_err(|e| corrupt(location, e.to_string()))
}

pub(crate) fn encode_hard_state(hs: HardState) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u8(FORMAT);
    b.put_u64_le(hs.term);
    b.put_u8(u8::from(hs.vote.is_some()));
    b.put_u64_le(hs.vote.unwrap_or(0));
    let crc = crc32c::crc32c(&b);
    b.put_u32_le(crc);
    b.to_vec()
}

pub(crate) fn decode_hard_state(buf: &[u8]) -> Result<HardState> {
    let loc = "raft hard state";
    if buf.len() != 22
        || crc32c::crc32c(&buf[..18]) != u32::from_le_bytes(buf[18..].try_into().expect("4 bytes"))
    {
        return Err(corrupt(loc, "bad length or checksum"));
    }
    if buf[0] != FORMAT {
        return Err(corrupt(loc, format!("unknown format {}", buf[0])));
    }
    let mut r = Reader::new(&buf[1..]);
    let term = checked(loc, r.u64_le("term"))?;
    let has_vote = r.u8("vote flag").map_err(|e| corrupt(loc, e.to_string()))? == 1;
    let vote = checked(loc, r.u64_le("vote"))?;
    Ok(HardState {
        term,
        vote: has_vote.then_some(vote),
    })
}

pub(crate) fn encode_log_header(offset: u64, offset_term: u64, base_version: u64) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(LOG_HEADER);
    b.put_u8(FORMAT);
    b.put_u64_le(offset);
    b.put_u64_le(offset_term);
    b.put_u64_le(base_version);
    b.to_vec()
}

/// `(offset, offset_term, base_version)`.
pub(crate) fn decode_log_header(buf: &[u8]) -> Result<(u64, u64, u64)> {
    let loc = "raft log header";
    if buf.len() < LOG_HEADER || buf[0] != FORMAT {
        return Err(corrupt(loc, "short header or unknown format"));
    }
    let mut r = Reader::new(&buf[1..LOG_HEADER]);
    Ok((
        checked(loc, r.u64_le("offset"))?,
        checked(loc, r.u64_le("offset term"))?,
        checked(loc, r.u64_le("base version"))?,
    ))
}

/// Appends one entry's record: its frame (see [`crate::core::stream`]); `prev_term` chains
/// records so a torn rewrite cannot splice an old tail onto a new prefix.
pub(crate) fn encode_entry(e: &Entry, prev_term: u64, out: &mut BytesMut) {
    crate::core::stream::encode_frame(e, prev_term, out);
}

/// Decodes the records in `buf` that follow `offset` (whose term is `offset_term`), stopping at
/// the first torn, corrupt or unchained one. Returns the entries and each one's end position.
pub(crate) fn decode_entries(
    buf: &[u8],
    base: usize,
    offset: u64,
    offset_term: u64,
) -> (Vec<Entry>, Vec<u64>) {
    // The one frame parser (checksum, index and term chain); the file's entries share one copy
    // of the bytes. Any term may appear: a log on disk has no leader term to bound it.
    let parsed = Frames::parse(Bytes::copy_from_slice(buf), offset, offset_term, u64::MAX);
    let ends = parsed
        .frames
        .ends()
        .iter()
        .map(|&end| (base + end) as u64)
        .collect();
    (parsed.frames.entries, ends)
}

/// Part 1's snapshot file (format 1); still decoded, no longer written (the fuzz crate and the
/// format test use it).
#[allow(dead_code)]
pub(crate) fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u8(FORMAT);
    b.put_u64_le(s.version);
    b.put_u64_le(s.data.len() as u64);
    b.put_u32_le(crc32c::crc32c(&s.data));
    b.put_slice(&s.data);
    b.to_vec()
}

pub(crate) fn decode_snapshot(buf: &[u8]) -> Result<Snapshot> {
    let loc = "raft snapshot";
    if buf.len() < 21 || buf[0] != FORMAT {
        return Err(corrupt(loc, "short or unknown format"));
    }
    let mut r = Reader::new(&buf[1..]);
    let version = checked(loc, r.u64_le("version"))?;
    let len = checked(loc, r.u64_le("length"))? as usize;
    let crc = r.u32_le("crc").map_err(|e| corrupt(loc, e.to_string()))?;
    // `len` comes from the file: checked, so a huge one is `Corrupt`, not an overflow.
    let data = 21usize
        .checked_add(len)
        .and_then(|end| buf.get(21..end))
        .ok_or_else(|| corrupt(loc, "truncated"))?;
    if crc32c::crc32c(data) != crc {
        return Err(corrupt(loc, "checksum mismatch"));
    }
    Ok(Snapshot {
        version,
        data: Bytes::copy_from_slice(data),
    })
}
