//! The snapshot image: the binary form of `raft.snap`, which is also the byte stream a leader
//! sends to a member that needs its snapshot (so the member's staged bytes, once verified, are
//! the file it installs).
//!
//! Format 2: format byte, the covered index and its term, the engine snapshot's version, the
//! membership at that index (length-prefixed `raft.members` encoding), the engine's bytes
//! (length-prefixed, passed through verbatim), then a CRC32C of everything before it. Format 1
//! (part 1's file: version, length, checksum, bytes, with no Raft meta) still loads; such a
//! snapshot is not streamed.

use bytes::{BufMut, Bytes, BytesMut};
use rig_core::codec::Reader;
use rig_core::{Result, Snapshot};

use super::members_file::{decode_membership, encode_membership};
use super::records::{corrupt, decode_snapshot, FORMAT};
use crate::core::SnapshotMeta;

/// The image format version.
const IMAGE_FORMAT: u8 = 2;
const LOCATION: &str = "raft snapshot";

/// Encodes a snapshot image: `snapshot` (the engine's, passed through verbatim) at `meta`.
///
/// ```
/// use rig_core::Snapshot;
/// use rig_raft_lite::core::SnapshotMeta;
/// use rig_raft_lite::storage::{decode_snapshot_image, encode_snapshot_image};
///
/// let meta = SnapshotMeta { index: 7, term: 2, ..SnapshotMeta::default() };
/// let snap = Snapshot { version: 5, data: bytes::Bytes::from_static(b"state") };
/// let image = encode_snapshot_image(&meta, &snap);
/// assert_eq!(decode_snapshot_image(&image).unwrap(), (meta, snap));
/// let mut bad = image.to_vec();
/// bad[30] ^= 1;
/// assert!(decode_snapshot_image(&bad).is_err(), "a damaged image is never installed");
/// ```
pub fn encode_snapshot_image(meta: &SnapshotMeta, snapshot: &Snapshot) -> Bytes {
    let membership = encode_membership(&meta.membership);
    let mut b = BytesMut::with_capacity(snapshot.data.len() + membership.len() + 48);
    b.put_u8(IMAGE_FORMAT);
    b.put_u64_le(meta.index);
    b.put_u64_le(meta.term);
    b.put_u64_le(snapshot.version);
    b.put_u32_le(membership.len() as u32);
    b.put_slice(&membership);
    b.put_u64_le(snapshot.data.len() as u64);
    b.put_slice(&snapshot.data);
    let crc = crc32c::crc32c(&b);
    b.put_u32_le(crc);
    b.freeze()
}

/// Decodes and verifies an image (format 2): any damage, truncation or trailing byte is
/// `Corrupt`, never a wrong snapshot.
pub fn decode_snapshot_image(buf: &[u8]) -> Result<(SnapshotMeta, Snapshot)> {
    let bad = |e: rig_core::codec::CodecError| corrupt(LOCATION, e.to_string());
    let Some(body_len) = buf.len().checked_sub(4) else {
        return Err(corrupt(LOCATION, "truncated"));
    };
    let (body, crc) = buf.split_at(body_len);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(corrupt(LOCATION, "checksum mismatch"));
    }
    let mut r = Reader::new(body);
    if r.u8("format").map_err(bad)? != IMAGE_FORMAT {
        return Err(corrupt(LOCATION, "unknown format"));
    }
    let (index, term) = (
        r.u64_le("index").map_err(bad)?,
        r.u64_le("term").map_err(bad)?,
    );
    let version = r.u64_le("version").map_err(bad)?;
    let mlen = r.u32_le("membership length").map_err(bad)? as usize;
    let membership = decode_membership(r.take(mlen, "membership").map_err(bad)?)?;
    let dlen = r.u64_le("data length").map_err(bad)?;
    let dlen = usize::try_from(dlen).map_err(|_| corrupt(LOCATION, "data length"))?;
    let data = Bytes::copy_from_slice(r.take(dlen, "data").map_err(bad)?);
    if !r.is_empty() {
        return Err(corrupt(LOCATION, "trailing bytes"));
    }
    let meta = SnapshotMeta {
        index,
        term,
        membership,
    };
    Ok((meta, Snapshot { version, data }))
}

/// Decodes `raft.snap` in either format: the meta is `None` for a format 1 file.
pub(crate) fn decode_snapshot_file(buf: &[u8]) -> Result<(Option<SnapshotMeta>, Snapshot)> {
    match buf.first() {
        Some(&FORMAT) => Ok((None, decode_snapshot(buf)?)),
        _ => decode_snapshot_image(buf).map(|(m, s)| (Some(m), s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::records::encode_snapshot;

    #[test]
    fn a_part_one_file_still_loads_without_meta() {
        let snap = Snapshot {
            version: 9,
            data: Bytes::from_static(b"old"),
        };
        let (meta, back) = decode_snapshot_file(&encode_snapshot(&snap)).unwrap();
        assert_eq!((meta, back), (None, snap));
    }

    #[test]
    fn truncated_or_extended_images_are_corrupt() {
        let meta = SnapshotMeta {
            index: 3,
            term: 1,
            ..SnapshotMeta::default()
        };
        let snap = Snapshot {
            version: 2,
            data: Bytes::from_static(b"abc"),
        };
        let image = encode_snapshot_image(&meta, &snap);
        for cut in 0..image.len() {
            assert!(
                decode_snapshot_image(&image[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = image.to_vec();
        longer.push(0);
        assert!(decode_snapshot_image(&longer).is_err());
    }
}
