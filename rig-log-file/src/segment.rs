//! One segment file: its header, its name, its salt and its in-memory index.
//!
//! # Segment format (version 1)
//! ```text
//! offset 0   8 bytes  magic "RIGSEG\r\n"
//!        8   u32 LE   format version (1)
//!       12   u32 LE   reserved (0)
//!       16   u64 LE   segment id (equals the id in the file name)
//!       24   u32 LE   crc32c of bytes 0..24
//!       28   4 bytes  zero
//!       32   records  rig_core::codec record frames, salted with the segment's salt, then zeros
//! ```
//! Segment ids are never reused, so the salt (derived from the id) differs for every life of a
//! recycled file: stale records from an earlier life fail their checksum instead of passing as data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rig_core::seams::FsFile;
use rig_core::Error;

use crate::errors::io_err;

/// Segment file magic.
pub(crate) const MAGIC: &[u8; 8] = b"RIGSEG\r\n";
/// The segment format this build writes and reads.
pub(crate) const FORMAT: u32 = 1;
/// Bytes before the first record.
pub(crate) const HEADER_LEN: u64 = 32;
/// One index entry per this many records: reads decode at most this many records to reach a version.
pub(crate) const INDEX_STRIDE: u64 = 64;

/// The file name of segment `id`.
pub(crate) fn file_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// The id in a segment file name, if `name` is one.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checksum salt of segment `id`: binds every record to the segment's identity.
pub(crate) fn salt(id: u64) -> u64 {
    // A fixed odd multiplier spreads consecutive ids over the whole u64 range; any injective
    // function of the id would do, since ids are never reused.
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5249_4753_4547_0001
}

/// Encodes the header of segment `id`.
pub(crate) fn encode_header(id: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a header read from `path`, which must be segment `id`.
pub(crate) fn check_header(h: &[u8], id: u64, path: &Path) -> Result<(), Error> {
    let at = |what: &str| format!("{} offset 0 ({what})", path.display());
    if h.len() < HEADER_LEN as usize {
        return Err(Error::corrupt(
            at("header"),
            format!("file is {} bytes, shorter than a header", h.len()),
        ));
    }
    if &h[..8] != MAGIC {
        return Err(Error::corrupt(at("magic"), "not a rig segment (bad magic)"));
    }
    let stored = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&h[..24]);
    if stored != computed {
        return Err(Error::corrupt(
            at("header checksum"),
            format!("header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        ));
    }
    let format = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(Error::corrupt(
            at("format"),
            format!("unknown segment format {format} (this build reads format {FORMAT})"),
        ));
    }
    let stored_id = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
    if stored_id != id || h[12..16] != [0; 4] || h[28..32] != [0; 4] {
        return Err(Error::corrupt(
            at("segment id"),
            format!("header names segment {stored_id}, file name says {id}"),
        ));
    }
    Ok(())
}

/// What is known about a segment's records. Updated by the writer after each successful write.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegState {
    /// The first version in the segment, `None` while it holds no record.
    pub(crate) first: Option<u64>,
    /// The last version in the segment (meaningless while `first` is `None`).
    pub(crate) last: u64,
    /// The offset just past the last record.
    pub(crate) end: u64,
    /// `(version, offset)` of every `INDEX_STRIDE`-th record, ascending.
    pub(crate) index: Vec<(u64, u64)>,
}

impl SegState {
    /// An empty segment.
    pub(crate) fn empty() -> Self {
        Self {
            first: None,
            last: 0,
            end: HEADER_LEN,
            index: Vec::new(),
        }
    }

    /// Notes a record of `version` written at `offset`, `len` bytes long.
    pub(crate) fn push(&mut self, version: u64, offset: u64, len: u64) {
        let first = *self.first.get_or_insert(version);
        if (version - first).is_multiple_of(INDEX_STRIDE) {
            self.index.push((version, offset));
        }
        self.last = version;
        self.end = offset + len;
    }

    /// The indexed `(version, offset)` at or before `version`.
    pub(crate) fn seek(&self, version: u64) -> (u64, u64) {
        let i = self.index.partition_point(|(v, _)| *v <= version);
        if i == 0 {
            (self.first.unwrap_or(version), HEADER_LEN)
        } else {
            self.index[i - 1]
        }
    }
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pub(crate) salt: u64,
    pub(crate) file: Arc<dyn FsFile>,
    /// The file's preallocated size: records never go past it.
    pub(crate) capacity: u64,
    pub(crate) state: Mutex<SegState>,
}

impl Segment {
    pub(crate) fn new(
        id: u64,
        path: PathBuf,
        file: Arc<dyn FsFile>,
        capacity: u64,
        state: SegState,
    ) -> Self {
        Self {
            id,
            salt: salt(id),
            path,
            file,
            capacity,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, SegState> {
        self.state.lock().expect("segment state lock")
    }

    /// A copy of the state.
    pub(crate) fn snapshot(&self) -> SegState {
        self.state().clone()
    }

    /// Where `offset` in this segment is, for error messages.
    pub(crate) fn at(&self, offset: u64) -> String {
        format!("{} offset {offset}", self.path.display())
    }

    /// Writes zeros over `[from, to)`.
    pub(crate) fn zero(&self, from: u64, to: u64) -> Result<(), Error> {
        zero_range(&*self.file, from, to).map_err(|e| {
            io_err(
                format!("zeroing {}..{to} of {}", from, self.path.display()),
                e,
            )
        })
    }
}

/// Writes zeros over `[from, to)` of `file`, in chunks.
pub(crate) fn zero_range(file: &dyn FsFile, from: u64, to: u64) -> std::io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut off = from;
    while off < to {
        let n = CHUNK.min(to - off) as usize;
        file.write_at(&zeros[..n], off)?;
        off += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_others() {
        assert_eq!(parse_name(&file_name(42)), Some(42));
        assert_eq!(parse_name("42.seg"), None);
        assert_eq!(parse_name("free-00000000000000000042.seg"), None);
    }

    #[test]
    fn header_checks_magic_crc_format_and_id() {
        let p = Path::new("x.seg");
        let h = encode_header(7);
        check_header(&h, 7, p).unwrap();
        assert!(check_header(&h, 8, p).is_err());
        for byte in 0..28 {
            let mut bad = h;
            bad[byte] ^= 1;
            assert!(
                matches!(check_header(&bad, 7, p), Err(Error::Corrupt { .. })),
                "byte {byte}"
            );
        }
    }

    #[test]
    fn seek_finds_the_indexed_record_at_or_before() {
        let mut s = SegState::empty();
        for v in 10..10 + 3 * INDEX_STRIDE {
            s.push(v, HEADER_LEN + (v - 10) * 20, 20);
        }
        assert_eq!(s.seek(10), (10, HEADER_LEN));
        assert_eq!(
            s.seek(10 + INDEX_STRIDE + 5),
            (10 + INDEX_STRIDE, HEADER_LEN + INDEX_STRIDE * 20)
        );
        assert_eq!(s.end, HEADER_LEN + 3 * INDEX_STRIDE * 20);
    }
}
