//! Raft's on-disk records (rig-raft-lite `storage/records.rs`): hard state, log header, entry
//! records and snapshots.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::raft_records(data));
