//! The bytes of every object the log writes. Each starts with a magic and a format version and is
//! checksummed with CRC32C; log records reuse rig-core's record frame ([`rig_core::codec`]).
//!
//! ```text
//! LOG/<first>       "RIGS3LOG" | u8 format=1 | u64 epoch | u64 put_id | u64 first | u32 count
//!                   | u64 durable_through | u32 crc32c(header) | count x record(salt = first)
//! SNAPSHOT/<v>      "RIGS3SNP" | u8 format=1 | u64 version | u64 len | data | u32 crc32c(all before)
//! LATEST, WRITER    "RIGLATEST 1 <16 hex> <8 hex crc32c>" / "RIGWRITER 1 <16 hex> <8 hex crc32c>"
//! ```
//! Integers are little-endian. A batch with `count = 0` is a fence marker: it claims the next slot
//! for a new writer and holds no entries.

use bytes::{BufMut, Bytes, BytesMut};
use rig_core::codec::{self, CodecError, Reader, RecordRead};
use rig_core::LogPayload;

const LOG_MAGIC: &[u8; 8] = b"RIGS3LOG";
const SNAPSHOT_MAGIC: &[u8; 8] = b"RIGS3SNP";
/// The object format this build writes and the only one it reads.
pub(crate) const FORMAT: u8 = 1;
const LOG_HEADER_LEN: usize = 8 + 1 + 8 + 8 + 8 + 4 + 8 + 4;

/// What a batch object says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// The writer epoch that wrote the batch.
    pub(crate) epoch: u64,
    /// A number unique to this batch, so a writer recognises its own object after an ambiguous PUT.
    pub(crate) put_id: u64,
    /// The version of the first entry (and the key).
    pub(crate) first: u64,
    /// The number of entries; 0 for a fence marker.
    pub(crate) count: u32,
    /// The highest version the writer knew durable when it sealed the batch.
    pub(crate) durable_through: u64,
}

/// A decoded batch object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) header: BatchHeader,
    pub(crate) entries: Vec<LogPayload>,
}

/// Encodes a batch; `entries` must be versions `header.first..` in order.
pub(crate) fn encode_batch(header: BatchHeader, entries: &[LogPayload]) -> Bytes {
    debug_assert_eq!(entries.len(), header.count as usize);
    let mut out = BytesMut::with_capacity(
        LOG_HEADER_LEN
            + entries
                .iter()
                .map(|p| codec::payload_len(p) + codec::RECORD_HEADER_LEN)
                .sum::<usize>(),
    );
    out.put_slice(LOG_MAGIC);
    out.put_u8(FORMAT);
    out.put_u64_le(header.epoch);
    out.put_u64_le(header.put_id);
    out.put_u64_le(header.first);
    out.put_u32_le(header.count);
    out.put_u64_le(header.durable_through);
    let crc = crc32c::crc32c(&out);
    out.put_u32_le(crc);
    for p in entries {
        codec::encode_record(p, header.first, &mut out);
    }
    out.freeze()
}

/// Decodes only the header of a batch (enough to settle who owns a slot).
pub(crate) fn decode_batch_header(buf: &[u8]) -> Result<BatchHeader, CodecError> {
    let mut r = Reader::new(buf);
    if r.take(8, "magic")? != LOG_MAGIC {
        return Err(CodecError::Invalid("magic (not a rig log batch)"));
    }
    let format = r.u8("format")?;
    if format != FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let header = BatchHeader {
        epoch: r.u64_le("epoch")?,
        put_id: r.u64_le("put id")?,
        first: r.u64_le("first version")?,
        count: r.u32_le("count")?,
        durable_through: r.u64_le("durable through")?,
    };
    let computed = crc32c::crc32c(&buf[..r.position()]);
    let stored = r.u32_le("header checksum")?;
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    if header.first == 0 {
        return Err(CodecError::Invalid("first version 0"));
    }
    Ok(header)
}

/// Decodes a whole batch and checks that it holds exactly versions `first..first + count`.
pub(crate) fn decode_batch(buf: &[u8]) -> Result<Batch, CodecError> {
    let header = decode_batch_header(buf)?;
    let mut pos = LOG_HEADER_LEN;
    // `count` is not trusted for the allocation: every record takes at least a frame header, so
    // the bytes present bound how many can follow (a crafted count once asked for 377 GB).
    let room = (buf.len() - LOG_HEADER_LEN) / codec::RECORD_HEADER_LEN;
    let mut entries = Vec::with_capacity((header.count as usize).min(room));
    for i in 0..u64::from(header.count) {
        match codec::decode_record(&buf[pos..], header.first) {
            RecordRead::Record { payload, len } => {
                if payload.version != header.first + i {
                    return Err(CodecError::Invalid("record version out of sequence"));
                }
                entries.push(payload);
                pos += len;
            }
            RecordRead::Empty | RecordRead::Incomplete => {
                return Err(CodecError::Truncated("record"))
            }
            RecordRead::Corrupt(e) => return Err(e),
        }
    }
    if pos != buf.len() {
        return Err(CodecError::Trailing(buf.len() - pos));
    }
    Ok(Batch { header, entries })
}

/// Encodes a snapshot object.
pub(crate) fn encode_snapshot(version: u64, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + 1 + 16 + data.len() + 4);
    out.put_slice(SNAPSHOT_MAGIC);
    out.put_u8(FORMAT);
    out.put_u64_le(version);
    out.put_u64_le(data.len() as u64);
    out.put_slice(data);
    let crc = crc32c::crc32c(&out);
    out.put_u32_le(crc);
    out.freeze()
}

/// Decodes a snapshot object into its version and data.
pub(crate) fn decode_snapshot(buf: &Bytes) -> Result<(u64, Bytes), CodecError> {
    let mut r = Reader::new(buf);
    if r.take(8, "magic")? != SNAPSHOT_MAGIC {
        return Err(CodecError::Invalid("magic (not a rig snapshot)"));
    }
    let format = r.u8("format")?;
    if format != FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let version = r.u64_le("version")?;
    let len = r.u64_le("length")?;
    if len != (buf.len() as u64).saturating_sub(8 + 1 + 16 + 4) {
        return Err(CodecError::Invalid("snapshot length"));
    }
    let start = r.position();
    r.take(len as usize, "data")?;
    let computed = crc32c::crc32c(&buf[..r.position()]);
    let stored = r.u32_le("checksum")?;
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    Ok((version, buf.slice(start..start + len as usize)))
}

/// Encodes a small text object (`LATEST`, `WRITER`): a tag, the format, a hex value, a checksum.
pub(crate) fn encode_pointer(tag: &str, value: u64) -> Bytes {
    let body = format!("{tag} {FORMAT} {value:016x}");
    let crc = crc32c::crc32c(body.as_bytes());
    Bytes::from(format!("{body} {crc:08x}\n"))
}

/// Decodes a small text object written by [`encode_pointer`] with the same `tag`.
pub(crate) fn decode_pointer(tag: &str, buf: &[u8]) -> Result<u64, CodecError> {
    let text = std::str::from_utf8(buf).map_err(|_| CodecError::Invalid("utf-8"))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (body, crc) = text
        .rsplit_once(' ')
        .ok_or(CodecError::Truncated("checksum"))?;
    let stored = u32::from_str_radix(crc, 16).map_err(|_| CodecError::Invalid("checksum"))?;
    let computed = crc32c::crc32c(body.as_bytes());
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    let mut parts = body.split(' ');
    if parts.next() != Some(tag) {
        return Err(CodecError::Invalid("tag"));
    }
    let format: u8 = parts
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or(CodecError::Invalid("format"))?;
    if format != FORMAT {
        return Err(CodecError::UnknownFormat(format));
    }
    let value = parts
        .next()
        .filter(|v| v.len() == 16)
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .ok_or(CodecError::Invalid("value"))?;
    if parts.next().is_some() {
        return Err(CodecError::Invalid("extra fields"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_core::Operation;

    fn batch(first: u64, n: u64) -> (BatchHeader, Vec<LogPayload>) {
        let entries: Vec<_> = (first..first + n)
            .map(|v| LogPayload {
                version: v,
                op: Operation::new(format!("m{v}"), vec![v as u8; v as usize % 40]),
            })
            .collect();
        let header = BatchHeader {
            epoch: 3,
            put_id: 0xfeed,
            first,
            count: n as u32,
            durable_through: first - 1,
        };
        (header, entries)
    }

    #[test]
    fn batch_round_trips_and_every_bit_flip_is_caught() {
        let (header, entries) = batch(7, 4);
        let buf = encode_batch(header, &entries);
        let back = decode_batch(&buf).unwrap();
        assert_eq!(back, Batch { header, entries });
        assert_eq!(decode_batch_header(&buf).unwrap(), header);
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_batch(&bad).is_err(), "bit {bit} undetected");
        }
        for cut in 0..buf.len() {
            assert!(decode_batch(&buf[..cut]).is_err(), "cut {cut} undetected");
        }
    }

    #[test]
    fn a_marker_is_an_empty_batch() {
        let (header, _) = batch(9, 0);
        let buf = encode_batch(header, &[]);
        assert_eq!(decode_batch(&buf).unwrap().entries, vec![]);
    }

    #[test]
    fn unknown_format_is_a_clear_error() {
        let (header, entries) = batch(1, 1);
        let mut buf = encode_batch(header, &entries).to_vec();
        buf[8] = 2;
        assert_eq!(decode_batch(&buf), Err(CodecError::UnknownFormat(2)));
        let mut snap = encode_snapshot(5, b"state").to_vec();
        snap[8] = 9;
        assert_eq!(
            decode_snapshot(&Bytes::from(snap)),
            Err(CodecError::UnknownFormat(9))
        );
    }

    #[test]
    fn snapshot_round_trips_and_detects_damage() {
        let buf = encode_snapshot(0x48e, b"the state");
        assert_eq!(
            decode_snapshot(&buf).unwrap(),
            (0x48e, Bytes::from_static(b"the state"))
        );
        let mut bad = buf.to_vec();
        bad[30] ^= 1;
        assert!(decode_snapshot(&Bytes::from(bad)).is_err());
        assert!(decode_snapshot(&buf.slice(..buf.len() - 1)).is_err());
    }

    #[test]
    fn pointers_round_trip_and_detect_damage() {
        let buf = encode_pointer("RIGLATEST", 0x48e);
        assert!(std::str::from_utf8(&buf)
            .unwrap()
            .starts_with("RIGLATEST 1 000000000000048e "));
        assert_eq!(decode_pointer("RIGLATEST", &buf).unwrap(), 0x48e);
        assert!(decode_pointer("RIGWRITER", &buf).is_err());
        let mut bad = buf.to_vec();
        bad[14] = b'f';
        assert!(decode_pointer("RIGLATEST", &bad).is_err());
    }
}
