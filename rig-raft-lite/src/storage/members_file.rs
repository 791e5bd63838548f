//! The binary form of `raft.members` (see [`FsStorage`](super::FsStorage)): kept apart from
//! `records.rs`, which the fuzz crate compiles on its own.

use bytes::BufMut;
use bytes::BytesMut;
use rig_core::codec::Reader;
use rig_core::Result;

use super::records::{corrupt, FORMAT};
use crate::core::{Membership, StoredMembership};

/// Format, control entry index, both memberships (length-prefixed control encodings), CRC32C.
pub(crate) fn encode_membership(m: &StoredMembership) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u8(FORMAT);
    b.put_u64_le(m.index);
    for set in [&m.current, &m.previous] {
        let data = set.encode();
        b.put_u32_le(data.len() as u32);
        b.put_slice(&data);
    }
    let crc = crc32c::crc32c(&b);
    b.put_u32_le(crc);
    b.to_vec()
}

pub(crate) fn decode_membership(buf: &[u8]) -> Result<StoredMembership> {
    let loc = "raft membership";
    let Some(body_len) = buf.len().checked_sub(4) else {
        return Err(corrupt(loc, "truncated"));
    };
    let (body, crc) = buf.split_at(body_len);
    if crc32c::crc32c(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(corrupt(loc, "checksum mismatch"));
    }
    if body.first() != Some(&FORMAT) {
        return Err(corrupt(loc, "unknown format"));
    }
    let mut r = Reader::new(&body[1..]);
    let index = r.u64_le("index").map_err(|e| corrupt(loc, e.to_string()))?;
    let mut sets = Vec::with_capacity(2);
    for _ in 0..2 {
        let len = r
            .u32_le("length")
            .map_err(|e| corrupt(loc, e.to_string()))? as usize;
        let data = r
            .take(len, "membership")
            .map_err(|e| corrupt(loc, e.to_string()))?;
        sets.push(Membership::decode(data).map_err(|e| corrupt(loc, e.to_string()))?);
    }
    if !r.is_empty() {
        return Err(corrupt(loc, "trailing bytes"));
    }
    let previous = sets.pop().expect("two sets");
    let current = sets.pop().expect("two sets");
    Ok(StoredMembership {
        index,
        current,
        previous,
    })
}
