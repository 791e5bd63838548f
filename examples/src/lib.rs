//! Services used by rig's runnable examples.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod kv;
pub mod metadata;
pub mod one_file_log;
