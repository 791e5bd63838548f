//! Shared pieces of rig's fuzz targets.
//!
//! Some decoders are private to their crate (the engine's snapshot envelope, the S3 object
//! formats, the 2PC messages). Rather than widen those crates' APIs for fuzzing, this crate compiles
//! the decoders' own source files (`#[path]`), so the fuzzer runs exactly the code the crates ship.
//! The glue below gives those files the `crate::` paths they expect.
#![allow(dead_code, unreachable_pub)]

pub use rig_core::{codec, ClientSeq, LogPayload, Operation};

/// rig-core's `engine/clients.rs` and `engine/envelope.rs`, compiled as they are.
#[path = "../../rig-core/src/engine"]
pub mod engine {
    pub mod clients;
    pub mod envelope;
}

/// rig-log-s3's object formats (`format.rs`), compiled as they are.
#[path = "../../rig-log-s3/src/format.rs"]
pub mod s3_format;

/// rig-raft-lite's on-disk records (`storage/records.rs`), compiled as they are; `core` gives
/// the file the `crate::core` path it expects.
#[path = "../../rig-raft-lite/src/storage/records.rs"]
pub mod raft_records;
pub mod core {
    pub use super::raft_stream as stream;
    pub use rig_raft_lite::core::{Entry, HardState};
}
/// The frame codec the records reuse (`core/stream.rs`), compiled as it is.
#[path = "../../rig-raft-lite/src/core/stream.rs"]
#[allow(dead_code)]
pub mod raft_stream;

/// rig-repl-2pc's protocol messages (`proto.rs`), compiled as they are.
#[path = "../../rig-repl-2pc/src/proto.rs"]
pub mod twopc_proto;

/// Decodes an engine snapshot envelope; when it decodes, re-encoding and decoding again must give
/// the same envelope.
/// The first byte picks whether the harness appends a correct checksum (so the fuzzer gets past
/// it to the fields) or leaves the bytes raw.
pub fn envelope_round_trip(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = rest.to_vec();
    if mode & 1 == 1 {
        append_crc(&mut input);
    }
    let bytes = bytes::Bytes::from(input);
    if let Ok(e) = engine::envelope::decode(&bytes) {
        let again = engine::envelope::encode(e.version, &e.clients, &e.service);
        assert_eq!(
            engine::envelope::decode(&again).expect("re-encoded envelope"),
            e
        );
    }
}

/// Decodes a 2PC message; when it decodes, its encoding must decode to the same message.
pub fn twopc_round_trip(data: &[u8]) {
    if let Ok(m) = twopc_proto::Msg::decode(data) {
        let _ = m.epoch();
        assert_eq!(twopc_proto::Msg::decode(&m.encode()), Ok(m));
    }
}

/// Feeds `data` to every S3 object decoder (batch, batch header, snapshot, both pointers); what
/// decodes must re-encode to something that decodes the same. The first byte picks fix-ups that
/// get the fuzzer past the checksums: bit 0 rewrites the batch header's CRC, bit 1 frames the
/// bytes after the header as records (salted with the header's first version), bit 2 appends a
/// snapshot CRC.
pub fn s3_objects(data: &[u8]) {
    use s3_format::*;
    const HEADER: usize = 8 + 1 + 8 + 8 + 8 + 4 + 8;
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = rest.to_vec();
    if mode & 2 == 2 && input.len() >= HEADER + 4 {
        let first = u64::from_le_bytes(input[25..33].try_into().expect("8 bytes"));
        let body = input.split_off(HEADER + 4);
        for c in chunks(&body) {
            record_frame(c, first, &mut input);
        }
    }
    if mode & 1 == 1 && input.len() >= HEADER + 4 {
        let crc = crc32c::crc32c(&input[..HEADER]);
        input[HEADER..HEADER + 4].copy_from_slice(&crc.to_le_bytes());
    }
    if mode & 4 == 4 {
        append_crc(&mut input);
    }
    let data = &input[..];
    let header = decode_batch_header(data);
    match decode_batch(data) {
        Ok(b) => {
            assert_eq!(header, Ok(b.header));
            let again = encode_batch(b.header, &b.entries);
            assert_eq!(decode_batch(&again).expect("re-encoded batch"), b);
        }
        Err(_) => {}
    }
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok((version, snap)) = decode_snapshot(&bytes) {
        let again = encode_snapshot(version, &snap);
        assert_eq!(
            decode_snapshot(&again).expect("re-encoded snapshot"),
            (version, snap)
        );
    }
    for tag in ["RIGLATEST", "RIGWRITER"] {
        if let Ok(v) = decode_pointer(tag, data) {
            assert_eq!(decode_pointer(tag, &encode_pointer(tag, v)), Ok(v));
        }
    }
}

/// Splits `data` at little-endian `u16` length prefixes: how the harnesses turn one fuzz input
/// into several frames or records (a prefix past the end takes what is left).
pub fn chunks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}

/// Frames `body` as a rig-core log record salted with `salt`, with a correct checksum, so the
/// fuzzer reaches the payload decoder behind it. Written out here (not with `codec::encode_record`,
/// which only frames valid payloads) from the format in `rig_core::codec`'s docs.
pub fn record_frame(body: &[u8], salt: u64, out: &mut Vec<u8>) {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&salt.to_le_bytes());
    head[8..].copy_from_slice(&(body.len() as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head), body);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
}

/// Appends the CRC32C of everything in `out`: the trailer of envelopes and snapshot objects.
pub fn append_crc(out: &mut Vec<u8>) {
    let crc = crc32c::crc32c(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Feeds `data` to every Raft storage decoder (hard state, log header, entry records, snapshot);
/// what decodes must re-encode to something that decodes the same. The first byte picks fix-ups
/// past the checksums: bit 0 appends the hard state's CRC, bit 1 frames the `u16`-prefixed chunks
/// after a log header as chained entry records.
pub fn raft_records(data: &[u8]) {
    use raft_records::*;
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let mut hs = rest.to_vec();
    if mode & 1 == 1 {
        append_crc(&mut hs);
    }
    if let Ok(h) = decode_hard_state(&hs) {
        assert_eq!(
            decode_hard_state(&encode_hard_state(h)).expect("re-encoded"),
            h
        );
    }
    if let Ok((offset, term, base)) = decode_log_header(rest) {
        let header = encode_log_header(offset, term, base);
        assert_eq!(
            decode_log_header(&header).expect("re-encoded"),
            (offset, term, base)
        );
        let body = &rest[LOG_HEADER..];
        let mut records = Vec::new();
        if mode & 2 == 2 {
            // Entry records: u32 len, u32 crc32c(body), body = term, index, prev term, data.
            for c in chunks(body) {
                records.extend_from_slice(&(c.len() as u32).to_le_bytes());
                records.extend_from_slice(&crc32c::crc32c(c).to_le_bytes());
                records.extend_from_slice(c);
            }
        } else {
            records.extend_from_slice(body);
        }
        let (entries, ends) = decode_entries(&records, LOG_HEADER, offset, term);
        assert_eq!(entries.len(), ends.len());
        let mut again = bytes::BytesMut::new();
        let mut prev = term;
        for e in &entries {
            encode_entry(e, prev, &mut again);
            prev = e.term;
        }
        assert_eq!(decode_entries(&again, LOG_HEADER, offset, term).0, entries);
    }
    if let Ok(s) = decode_snapshot(rest) {
        assert_eq!(
            decode_snapshot(&encode_snapshot(&s)).expect("re-encoded"),
            s
        );
    }
}
