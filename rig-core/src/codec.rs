//! The one binary encoding of [`LogPayload`] every backend uses, and the checksummed record frame.
//!
//! # Payload (format 1)
//! ```text
//! u8 format = 1 | varint version | u8 flags (bit 0: client present)
//! [varint client | varint seq] | varint method_len | method (UTF-8) | varint data_len | data
//! ```
//! Varints are LEB128. A payload must be consumed exactly; trailing bytes are an error.
//!
//! # Record frame
//! ```text
//! u32 LE body_len | u32 LE crc32c(salt LE ‖ body_len LE ‖ body) | body (a payload)
//! ```
//! The `salt` is not stored: it binds a record to its container (the file log passes a segment's
//! identity), so stale bytes from a reused segment or a record copied to the wrong place fail the
//! checksum instead of passing as data. A frame whose length field is zero marks unwritten space.
//!
//! ```
//! use bytes::BytesMut;
//! use rig_core::{codec, LogPayload, Operation};
//!
//! let p = LogPayload { version: 42, op: Operation::new("incr", "a").with_client(3, 9) };
//! let mut buf = BytesMut::new();
//! codec::encode_record(&p, 7, &mut buf);
//! match codec::decode_record(&buf, 7) {
//!     codec::RecordRead::Record { payload, len } => {
//!         assert_eq!(payload, p);
//!         assert_eq!(len, buf.len());
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // The same bytes under another salt do not verify.
//! assert!(matches!(codec::decode_record(&buf, 8), codec::RecordRead::Corrupt(_)));
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::{ClientSeq, LogPayload, Operation};

/// The payload format this build writes and the only one it reads.
pub const PAYLOAD_FORMAT: u8 = 1;
/// Bytes before a record's body: length and checksum.
pub const RECORD_HEADER_LEN: usize = 8;
/// The largest body a record frame may carry (64 MiB); a larger length field is corruption.
pub const MAX_RECORD_BODY: usize = 64 << 20;
const MAX_METHOD_LEN: usize = 1 << 16;

/// Why a payload or record did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes ended before the named field.
    #[error("truncated at {0}")]
    Truncated(&'static str),
    /// The format byte names a format this build does not know.
    #[error("unknown payload format {0} (this build reads format {PAYLOAD_FORMAT})")]
    UnknownFormat(u8),
    /// A field is out of range or malformed.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes remained after the payload.
    #[error("{0} trailing bytes after payload")]
    Trailing(usize),
    /// The checksum did not match.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The checksum in the frame.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
}

/// The exact number of bytes [`encode_payload`] writes for `p`.
///
/// ```
/// let p = rig_core::LogPayload { version: 1, op: rig_core::Operation::new("a", "b") };
/// let mut buf = bytes::BytesMut::new();
/// rig_core::codec::encode_payload(&p, &mut buf);
/// assert_eq!(rig_core::codec::payload_len(&p), buf.len());
/// ```
pub fn payload_len(p: &LogPayload) -> usize {
    let client =
        p.op.client
            .map_or(0, |c| varint_len(c.client) + varint_len(c.seq));
    1 + varint_len(p.version)
        + 1
        + client
        + varint_len(p.op.method.len() as u64)
        + p.op.method.len()
        + varint_len(p.op.data.len() as u64)
        + p.op.data.len()
}

/// Appends the binary form of `p` to `out`.
///
/// ```
/// let p = rig_core::LogPayload { version: 5, op: rig_core::Operation::new("m", "d") };
/// let mut buf = bytes::BytesMut::new();
/// rig_core::codec::encode_payload(&p, &mut buf);
/// assert_eq!(rig_core::codec::decode_payload(&buf).unwrap(), p);
/// ```
pub fn encode_payload(p: &LogPayload, out: &mut BytesMut) {
    out.reserve(payload_len(p));
    out.put_u8(PAYLOAD_FORMAT);
    put_varint(out, p.version);
    out.put_u8(u8::from(p.op.client.is_some()));
    if let Some(c) = p.op.client {
        put_varint(out, c.client);
        put_varint(out, c.seq);
    }
    put_varint(out, p.op.method.len() as u64);
    out.put_slice(p.op.method.as_bytes());
    put_varint(out, p.op.data.len() as u64);
    out.put_slice(&p.op.data);
}

/// Decodes one payload that must fill `buf` exactly.
///
/// ```
/// use rig_core::codec::{decode_payload, CodecError};
/// assert_eq!(decode_payload(&[9]).unwrap_err(), CodecError::UnknownFormat(9));
/// assert!(decode_payload(&[]).is_err());
/// ```
pub fn decode_payload(buf: &[u8]) -> Result<LogPayload, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    let format = r.u8("format")?;
    if format != PAYLOAD_FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let version = r.varint("version")?;
    if version == 0 {
        return Err(CodecError::Invalid("version 0"));
    }
    let flags = r.u8("flags")?;
    if flags > 1 {
        return Err(CodecError::Invalid("flags"));
    }
    let client = if flags & 1 == 1 {
        Some(ClientSeq {
            client: r.varint("client")?,
            seq: r.varint("seq")?,
        })
    } else {
        None
    };
    let method_len = r.len("method length", MAX_METHOD_LEN)?;
    let method = std::str::from_utf8(r.take(method_len, "method")?)
        .map_err(|_| CodecError::Invalid("method utf-8"))?
        .to_owned();
    let data_len = r.len("data length", MAX_RECORD_BODY)?;
    let data = Bytes::copy_from_slice(r.take(data_len, "data")?);
    if r.pos != buf.len() {
        return Err(CodecError::Trailing(buf.len() - r.pos));
    }
    Ok(LogPayload {
        version,
        op: Operation {
            method,
            data,
            client,
        },
    })
}

/// The checksum of a record frame: covers the salt, the length field and the body.
fn record_crc(salt: u64, body: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&salt.to_le_bytes());
    head[8..].copy_from_slice(&(body.len() as u32).to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), body)
}

/// Appends `p` as a checksummed record frame bound to `salt`.
pub fn encode_record(p: &LogPayload, salt: u64, out: &mut BytesMut) {
    let start = out.len();
    out.put_u64_le(0); // header placeholder
    encode_payload(p, out);
    let body_len = out.len() - start - RECORD_HEADER_LEN;
    let crc = record_crc(salt, &out[start + RECORD_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&(body_len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The outcome of reading one record frame from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRead {
    /// A verified record of `len` bytes (header included).
    Record {
        /// The decoded entry.
        payload: LogPayload,
        /// Bytes the frame occupies.
        len: usize,
    },
    /// The frame starts with a zero length: unwritten (preallocated) space.
    Empty,
    /// The buffer ends inside the frame: a torn write if this is the end of the log.
    Incomplete,
    /// The frame is complete but does not verify.
    Corrupt(CodecError),
}

/// Reads one record frame from the front of `buf`, verifying it against `salt`.
pub fn decode_record(buf: &[u8], salt: u64) -> RecordRead {
    if buf.len() < RECORD_HEADER_LEN {
        return if buf.iter().all(|b| *b == 0) {
            RecordRead::Empty
        } else {
            RecordRead::Incomplete
        };
    }
    let body_len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    let stored = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if body_len == 0 {
        return if stored == 0 {
            RecordRead::Empty
        } else {
            RecordRead::Corrupt(CodecError::Invalid("zero length"))
        };
    }
    if body_len > MAX_RECORD_BODY {
        return RecordRead::Corrupt(CodecError::Invalid("record length"));
    }
    let Some(body) = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + body_len) else {
        return RecordRead::Incomplete;
    };
    let computed = record_crc(salt, body);
    if computed != stored {
        return RecordRead::Corrupt(CodecError::Checksum { stored, computed });
    }
    match decode_payload(body) {
        Ok(payload) => RecordRead::Record {
            payload,
            len: RECORD_HEADER_LEN + body_len,
        },
        Err(e) => RecordRead::Corrupt(e),
    }
}

/// Appends `v` as a LEB128 varint.
///
/// ```
/// let mut b = bytes::BytesMut::new();
/// rig_core::codec::put_varint(&mut b, 300);
/// assert_eq!(&b[..], &[0xac, 0x02]);
/// ```
pub fn put_varint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A bounds-checked cursor over a byte slice, shared by rig's decoders.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the front of `buf`.
    ///
    /// ```
    /// let mut r = rig_core::codec::Reader::new(&[0xac, 0x02, 7]);
    /// assert_eq!(r.varint("n").unwrap(), 300);
    /// assert_eq!(r.u8("b").unwrap(), 7);
    /// assert!(r.is_empty());
    /// ```
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a little-endian u32.
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a LEB128 varint of at most 10 bytes.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8(what)?;
            if i == 9 && b > 1 {
                return Err(CodecError::Invalid(what));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Invalid(what))
    }

    /// Reads a varint length and checks it against `max` and the bytes left.
    pub fn len(&mut self, what: &'static str, max: usize) -> Result<usize, CodecError> {
        let n = self.varint(what)?;
        if n > max as u64 {
            return Err(CodecError::Invalid(what));
        }
        if n as usize > self.buf.len() - self.pos {
            return Err(CodecError::Truncated(what));
        }
        Ok(n as usize)
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(CodecError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload() -> impl Strategy<Value = LogPayload> {
        (
            1u64..,
            "[a-z_]{0,20}",
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::option::of((any::<u64>(), any::<u64>())),
        )
            .prop_map(|(version, method, data, client)| LogPayload {
                version,
                op: Operation {
                    method,
                    data: data.into(),
                    client: client.map(|(client, seq)| ClientSeq { client, seq }),
                },
            })
    }

    proptest! {
        #[test]
        fn payload_round_trips(p in payload()) {
            let mut buf = BytesMut::new();
            encode_payload(&p, &mut buf);
            prop_assert_eq!(buf.len(), payload_len(&p));
            prop_assert_eq!(decode_payload(&buf).unwrap(), p);
        }

        #[test]
        fn record_round_trips(p in payload(), salt in any::<u64>()) {
            let mut buf = BytesMut::new();
            encode_record(&p, salt, &mut buf);
            let len = buf.len();
            prop_assert_eq!(decode_record(&buf, salt), RecordRead::Record { payload: p, len });
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), salt in any::<u64>()) {
            let _ = decode_payload(&bytes);
            let _ = decode_record(&bytes, salt);
        }

        #[test]
        fn every_bit_flip_is_detected(p in payload(), bit in any::<proptest::sample::Index>()) {
            let mut buf = BytesMut::new();
            encode_record(&p, 1, &mut buf);
            let bit = bit.index(buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            let verified = matches!(decode_record(&buf, 1), RecordRead::Record { .. });
            prop_assert!(!verified, "a flipped bit went undetected");
        }
    }

    #[test]
    fn torn_record_is_incomplete() {
        let p = LogPayload {
            version: 3,
            op: Operation::new("m", vec![1u8; 50]),
        };
        let mut buf = BytesMut::new();
        encode_record(&p, 0, &mut buf);
        for cut in 1..buf.len() {
            let r = decode_record(&buf[..cut], 0);
            assert!(matches!(r, RecordRead::Incomplete), "cut {cut}: {r:?}");
        }
        assert_eq!(decode_record(&[0u8; 16], 0), RecordRead::Empty);
    }
}
