//! Shared pieces of rig-testkit's own integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod kv;
