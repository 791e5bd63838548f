//! The deterministic cluster harness for the sans-IO core.
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod invariants;
