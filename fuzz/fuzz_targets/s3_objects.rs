//! S3 batch objects, snapshot objects and pointer objects (rig-log-s3 `format.rs`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::s3_objects(data));
