//! Shared pieces of rig-testkit's own integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod engine_sim;
// The one-file log is the worked example in `examples/`; rig-testkit's own simulation compiles
// the same source (a path, not a dependency, so rig-testkit never depends on the examples).
#[path = "../../../examples/src/one_file_log.rs"]
pub mod file_log;
pub mod kv;
