//! 2PC protocol messages (rig-repl-2pc `proto.rs`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::twopc_round_trip(data));
