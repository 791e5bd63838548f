//! The engine's snapshot envelope (rig-core `engine/envelope.rs`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::envelope_round_trip(data));
