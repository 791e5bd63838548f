//! rig keeps the data of a small stateful service safe: a versioned log, snapshots and (with a
//! replicated backend) replication in front of your state machine.
//!
//! This facade re-exports [`rig_core`] and the backend crates chosen by feature.
//!
//! ```
//! use rig::{MemLog, Operation};
//! let op = Operation::new("incr", "a");
//! let _log = MemLog::new();
//! assert_eq!(op.method, "incr");
//! ```
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub use rig_core::*;

/// The embedded default log: segment files with group commit (feature `file`).
#[cfg(feature = "file")]
pub use rig_log_file as file;

/// The log and snapshots in S3 or any S3-compatible store, fenced against two writers (feature `s3`).
#[cfg(feature = "s3")]
pub use rig_log_s3 as s3;

/// A primary and replicas with two-phase commit, semi-sync fallback and manual failover
/// (feature `2pc`).
#[cfg(feature = "2pc")]
pub use rig_repl_2pc as repl_2pc;

/// A Raft group behind the [`Log`](rig_core::Log) trait (feature `raft`).
#[cfg(feature = "raft")]
pub use rig_raft_lite as raft;
