//! Log payloads and record frames (rig-core `codec`), the bytes every backend stores.
//!
//! Input: one mode byte, then eight bytes of salt, then the stream. With the mode's low bit set the
//! harness frames the stream's `u16`-prefixed chunks as records with correct checksums, so the
//! fuzzer reaches the payload decoder behind them; otherwise the stream is read raw.
#![no_main]
use bytes::BytesMut;
use rig_core::codec::{decode_payload, decode_record, encode_payload, encode_record, RecordRead};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = decode_payload(data) {
        // The encoding is canonical except for over-long varints: re-encoding decodes the same.
        let mut buf = BytesMut::new();
        encode_payload(&p, &mut buf);
        assert_eq!(decode_payload(&buf).expect("re-encoded payload"), p);
    }
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let Some((salt, stream)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let salt = u64::from_le_bytes(*salt);
    let mut framed = Vec::new();
    let mut rest = if mode & 1 == 1 {
        for c in rig_fuzz::chunks(stream) {
            rig_fuzz::record_frame(c, salt, &mut framed);
        }
        &framed[..]
    } else {
        stream
    };
    while let RecordRead::Record { payload, len } = decode_record(rest, salt) {
        assert!(len <= rest.len() && len > 0);
        let mut buf = BytesMut::new();
        encode_record(&payload, salt, &mut buf);
        assert!(
            matches!(decode_record(&buf, salt), RecordRead::Record { payload: p, .. } if p == payload)
        );
        rest = &rest[len..];
    }
});
