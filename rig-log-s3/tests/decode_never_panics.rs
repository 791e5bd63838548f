//! The S3 object decoders (batch objects, snapshot objects, `LATEST`/`WRITER` pointers): every
//! object they are given round-trips, and no bytes make them panic or abort; random bytes and
//! damaged encodings, including ones whose checksums were recomputed so the fields behind them are
//! reached. The generators are seeded, so a failure replays.
//!
//! The decoders are private to the crate: this test compiles `src/format.rs` itself.

#[path = "../src/format.rs"]
#[allow(dead_code, unreachable_pub)]
mod format;

use bytes::Bytes;
use format::{
    decode_batch, decode_batch_header, decode_pointer, decode_snapshot, encode_batch,
    encode_pointer, encode_snapshot, Batch, BatchHeader,
};
use rig_core::seams::{Rand, SeededRand};
use rig_core::{LogPayload, Operation};

/// Bytes of a batch header (everything before its CRC) and the header with its CRC.
const HEADER: usize = 8 + 1 + 8 + 8 + 8 + 4 + 8;
const WITH_CRC: usize = HEADER + 4;

fn bytes(rand: &SeededRand, max: u64) -> Vec<u8> {
    (0..rand.below(max + 1))
        .map(|_| rand.next_u64() as u8)
        .collect()
}

fn batch(rand: &SeededRand) -> (BatchHeader, Vec<LogPayload>) {
    let first = 1 + rand.below(1 << 40);
    let count = rand.below(6);
    let entries: Vec<LogPayload> = (0..count)
        .map(|i| {
            let mut op = Operation::new(format!("m{}", rand.below(100)), bytes(rand, 40));
            if rand.below(2) == 1 {
                op = op.with_client(rand.next_u64(), rand.next_u64());
            }
            LogPayload {
                version: first + i,
                op,
            }
        })
        .collect();
    let header = BatchHeader {
        epoch: rand.next_u64(),
        put_id: rand.next_u64(),
        first,
        count: count as u32,
        durable_through: rand.below(first),
    };
    (header, entries)
}

/// Recomputes a batch header's CRC so that damage behind it is what the decoder meets.
fn fix_header_crc(buf: &mut [u8]) {
    if buf.len() >= WITH_CRC {
        let crc = crc32c::crc32c(&buf[..HEADER]);
        buf[HEADER..WITH_CRC].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Feeds `buf` to every decoder; what decodes must re-encode to an equal value.
fn decode_all(buf: &[u8]) {
    let header = decode_batch_header(buf);
    if let Ok(b) = decode_batch(buf) {
        assert_eq!(header, Ok(b.header));
        assert_eq!(decode_batch(&encode_batch(b.header, &b.entries)), Ok(b));
    }
    if let Ok((v, data)) = decode_snapshot(&Bytes::copy_from_slice(buf)) {
        assert_eq!(decode_snapshot(&encode_snapshot(v, &data)), Ok((v, data)));
    }
    for tag in ["RIGLATEST", "RIGWRITER"] {
        if let Ok(v) = decode_pointer(tag, buf) {
            assert_eq!(decode_pointer(tag, &encode_pointer(tag, v)), Ok(v));
        }
    }
}

#[test]
fn objects_round_trip() {
    let rand = SeededRand::new(11);
    for _ in 0..2_000 {
        let (header, entries) = batch(&rand);
        let buf = encode_batch(header, &entries);
        assert_eq!(decode_batch(&buf), Ok(Batch { header, entries }));
        let (version, data) = (rand.next_u64(), bytes(&rand, 64));
        assert_eq!(
            decode_snapshot(&encode_snapshot(version, &data)),
            Ok((version, Bytes::from(data)))
        );
        let value = rand.next_u64();
        for tag in ["RIGLATEST", "RIGWRITER"] {
            assert_eq!(decode_pointer(tag, &encode_pointer(tag, value)), Ok(value));
        }
    }
    // An entry with a client sequence survives too (the generator draws both shapes).
    let one = LogPayload {
        version: 3,
        op: Operation::new("m", "d").with_client(1, 2),
    };
    let header = BatchHeader {
        epoch: 1,
        put_id: 1,
        first: 3,
        count: 1,
        durable_through: 2,
    };
    let buf = encode_batch(header, std::slice::from_ref(&one));
    assert_eq!(decode_batch(&buf).unwrap().entries, vec![one]);
}

#[test]
fn random_bytes_never_panic() {
    let rand = SeededRand::new(12);
    for _ in 0..20_000 {
        let mut buf = bytes(&rand, 200);
        decode_all(&buf);
        // The same bytes behind a valid magic and header CRC reach the record decoder.
        let mut framed = b"RIGS3LOG\x01".to_vec();
        framed.append(&mut buf);
        fix_header_crc(&mut framed);
        decode_all(&framed);
    }
}

#[test]
fn damaged_objects_are_errors_never_panics() {
    let rand = SeededRand::new(13);
    for _ in 0..3_000 {
        let (header, entries) = batch(&rand);
        let good = encode_batch(header, &entries).to_vec();
        let mut bad = good.clone();
        let at = rand.below(bad.len() as u64) as usize;
        bad[at] ^= 1 << rand.below(8);
        fix_header_crc(&mut bad);
        decode_all(&bad);
        let cut = rand.below(good.len() as u64) as usize;
        assert!(decode_batch(&good[..cut]).is_err(), "cut at {cut}");
        decode_all(&good[..cut]);
    }
}

/// Found by the `s3_objects` fuzz target: a header with a valid CRC claiming 4 billion entries
/// made the decoder reserve room for all of them up front (hundreds of GB) and abort.
#[test]
fn a_huge_entry_count_is_an_error_not_an_allocation() {
    let header = BatchHeader {
        epoch: 1,
        put_id: 2,
        first: 5,
        count: u32::MAX,
        durable_through: 4,
    };
    let mut buf = encode_batch(BatchHeader { count: 0, ..header }, &[]).to_vec();
    buf[33..37].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_header_crc(&mut buf);
    assert_eq!(decode_batch_header(&buf), Ok(header));
    assert!(decode_batch(&buf).is_err());
}
