//! Test harnesses: the sans-IO cluster (core) and the in-process RaftLog group (driver).
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod group;
pub mod invariants;
pub mod sim_group;
pub mod writes;
