//! The engine's snapshot envelope: the service's bytes plus the client table, checksummed.
//!
//! ```text
//! "RIGS" | u8 format = 1 | u64 LE version | varint clients
//! | clients × (varint id, varint seq, varint version, varint len, output JSON)
//! | varint service_len | service bytes | u32 LE crc32c(everything before)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::clients::{ClientTable, LastResult};
use crate::codec::{put_varint, CodecError, Reader};

const MAGIC: &[u8; 4] = b"RIGS";
const FORMAT: u8 = 1;

/// A decoded snapshot envelope.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) version: u64,
    pub(crate) clients: ClientTable,
    pub(crate) service: Bytes,
}

pub(crate) fn encode(version: u64, clients: &ClientTable, service: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(service.len() + 64);
    out.put_slice(MAGIC);
    out.put_u8(FORMAT);
    out.put_u64_le(version);
    put_varint(&mut out, clients.last.len() as u64);
    for (id, l) in &clients.last {
        put_varint(&mut out, *id);
        put_varint(&mut out, l.seq);
        put_varint(&mut out, l.version);
        put_varint(&mut out, l.output.len() as u64);
        out.put_slice(&l.output);
    }
    put_varint(&mut out, service.len() as u64);
    out.put_slice(service);
    let crc = crc32c::crc32c(&out);
    out.put_u32_le(crc);
    out.freeze()
}

pub(crate) fn decode(bytes: &Bytes) -> Result<Envelope, CodecError> {
    let Some(split) = bytes.len().checked_sub(4) else {
        return Err(CodecError::Truncated("snapshot checksum"));
    };
    let stored = u32::from_le_bytes(bytes[split..].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[..split]);
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    let mut r = Reader::new(&bytes[..split]);
    if r.take(4, "snapshot magic")? != MAGIC {
        return Err(CodecError::Invalid("snapshot magic"));
    }
    let format = r.u8("snapshot format")?;
    if format != FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let version = r.u64_le("snapshot version")?;
    let n = r.varint("client count")?;
    let mut clients = ClientTable::default();
    for _ in 0..n {
        let id = r.varint("client id")?;
        let seq = r.varint("client seq")?;
        let v = r.varint("client version")?;
        let len = r.len("client output", usize::MAX)?;
        let start = r.position();
        r.take(len, "client output")?;
        clients.last.insert(
            id,
            LastResult {
                seq,
                version: v,
                output: bytes.slice(start..start + len),
            },
        );
    }
    let len = r.len("service snapshot", usize::MAX)?;
    let start = r.position();
    r.take(len, "service snapshot")?;
    if !r.is_empty() {
        return Err(CodecError::Trailing(split - r.position()));
    }
    Ok(Envelope {
        version,
        clients,
        service: bytes.slice(start..start + len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(version in any::<u64>(), svc in proptest::collection::vec(any::<u8>(), 0..100),
                       cl in proptest::collection::btree_map(any::<u64>(), (any::<u64>(), any::<u64>(), "[a-z]{0,8}"), 0..5)) {
            let mut clients = ClientTable::default();
            for (id, (seq, v, out)) in cl {
                clients.last.insert(id, LastResult { seq, version: v, output: Bytes::from(out) });
            }
            let b = encode(version, &clients, &svc);
            let e = decode(&b).unwrap();
            prop_assert_eq!(e, Envelope { version, clients, service: Bytes::from(svc) });
        }

        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(&Bytes::from(b));
        }

        #[test]
        fn bit_flips_are_detected(svc in proptest::collection::vec(any::<u8>(), 0..50), bit in any::<proptest::sample::Index>()) {
            let mut b = encode(9, &ClientTable::default(), &svc).to_vec();
            let bit = bit.index(b.len() * 8);
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&Bytes::from(b)).is_err());
        }
    }
}
