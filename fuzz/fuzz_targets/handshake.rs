//! The link handshake (rig-core `net::handshake`), from both ends: a responder reading a peer's
//! Hello and proof, and an initiator reading the responder's Hello and proof. The fuzz input is
//! what the peer sends: the first byte picks the side and whether the bytes are framed by the
//! harness (so the fuzzer gets past the frame checksum) or sent raw; the rest is split into frames
//! at `u16` length prefixes.
#![no_main]
use std::time::Duration;

use bytes::BytesMut;
use rig_core::net::frame::encode_frame;
use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::seams::SeededRand;

fn framed(data: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for c in rig_fuzz::chunks(data) {
        encode_frame(c, 1 << 16, &mut out).expect("small frame");
    }
    out.to_vec()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let incoming = if mode & 2 == 0 {
        framed(rest)
    } else {
        rest.to_vec()
    };
    // The peer's bytes, then end of stream; what we send goes nowhere.
    let conn = Box::new(tokio::io::join(
        std::io::Cursor::new(incoming),
        tokio::io::sink(),
    ));
    let mut cfg = HandshakeConfig::new("g", [1, 2], "me", b"key".to_vec());
    cfg.timeout = Duration::from_secs(5);
    let rand = SeededRand::new(7);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        if mode & 1 == 0 {
            accept(conn, &cfg, &rand).await
        } else {
            connect(conn, &cfg, &rand).await
        }
    });
    // Nobody holding the key can have produced the proof.
    assert!(result.is_err(), "a peer without the key authenticated");
});
