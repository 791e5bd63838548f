//! Shared pieces of rig-testkit's own integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod engine_sim;
pub mod file_factory;
pub mod file_log;
pub mod kv;
