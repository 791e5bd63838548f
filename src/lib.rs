//! rig keeps the data of a small stateful service safe: a versioned log, snapshots and (with a
//! replicated backend) replication in front of your state machine.
//!
//! This facade re-exports [`rig_core`] and the backend crates chosen by feature: `file` (the
//! default), `s3`, `2pc` and `raft`.
//!
//! # Quick start: a service on the file log
//! ```
//! # #[cfg(feature = "file")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use rig::doc_support::{add, Counters}; // a tiny Service; see `rig_core::Service` to write yours
//! use rig::file::{FileLog, FileLogOptions};
//! use rig::Rig;
//!
//! let dir = std::env::temp_dir().join(format!("rig-facade-doc-{}", std::process::id()));
//! let log = FileLog::open(&dir, FileLogOptions::default())?;
//! let rig = Rig::open(Counters::default(), log).await?;
//! let done = rig.execute(add("visits", 1)).await?; // acknowledged once fsynced, then applied
//! assert_eq!((done.version, done.output), (1, 1));
//! rig.close().await?;
//!
//! // A restart recovers the state from the log.
//! let rig = Rig::open(Counters::default(), FileLog::open(&dir, FileLogOptions::default())?).await?;
//! assert_eq!(rig.state().await.get("visits"), 1);
//! rig.close().await?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), rig::Error>(())
//! # }).unwrap();
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
