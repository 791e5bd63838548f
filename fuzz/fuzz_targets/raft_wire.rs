//! Raft wire messages (rig-raft-lite `wire.rs`): decoding never panics, and what decodes
//! re-encodes to a message that decodes the same.
#![no_main]
use rig_raft_lite::wire::{decode, encode};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode(data) {
        assert_eq!(decode(&encode(&m)).expect("re-encoded message"), m);
    }
});
