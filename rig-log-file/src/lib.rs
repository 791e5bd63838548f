//! rig's embedded default log: a durable [`rig_core::Log`] in a local directory.
//!
//! # Quick start
//! ```
//! use rig_core::{async_trait, Operation, Rejection, Rig, Service, ServiceError};
//! use rig_log_file::{FileLog, FileLogOptions};
//!
//! /// A counter: `add` with a number as data.
//! #[derive(Default)]
//! struct Counter { version: u64, total: i64 }
//!
//! #[async_trait]
//! impl Service for Counter {
//!     type Output = i64;
//!     async fn version(&self) -> u64 { self.version }
//!     async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
//!         op.decode::<i64>().map(|_| ())
//!     }
//!     async fn apply(&mut self, version: u64, op: &Operation) -> Result<i64, ServiceError> {
//!         self.total += op.decode::<i64>().map_err(|e| ServiceError(e.to_string()))?;
//!         self.version = version;
//!         Ok(self.total)
//!     }
//!     async fn snapshot(&self) -> Result<bytes::Bytes, ServiceError> {
//!         Ok(self.total.to_string().into())
//!     }
//!     async fn restore(&mut self, version: u64, data: bytes::Bytes) -> Result<(), ServiceError> {
//!         let text = std::str::from_utf8(&data).map_err(|e| ServiceError(e.to_string()))?;
//!         self.total = text.parse().map_err(|e: std::num::ParseIntError| ServiceError(e.to_string()))?;
//!         self.version = version;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let opts = FileLogOptions { segment_size: 1 << 20, ..Default::default() };
//! let rig = Rig::open(Counter::default(), FileLog::open(dir.path(), opts.clone())?).await?;
//! rig.execute(Operation::json("add", &5)?).await?; // fsynced before it returns
//! let done = rig.execute(Operation::json("add", &2)?).await?;
//! assert_eq!((done.version, done.output), (2, 7));
//! rig.close().await?;
//!
//! // Reopen (as after a crash): the state is rebuilt from the files.
//! let rig = Rig::open(Counter::default(), FileLog::open(dir.path(), opts)?).await?;
//! assert_eq!(rig.state().await.total, 7);
//! # rig.close().await?;
//! # Ok::<(), rig_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # How it works
//! - **Segments.** The log is a sequence of segment files (`<id>.seg`), each preallocated by a
//!   background thread (zero-filled through the [`rig_core::seams::Fs`] seam, header written,
//!   synced, renamed into place, directory synced) before the writer needs it. Compacted segments
//!   are reused. Every record's checksum is salted with its segment's id, and ids are never
//!   reused, so stale bytes in a reused file never pass as data.
//! - **Group commit.** One writer thread takes every queued append at once, writes them with one
//!   write, and covers them with one fdatasync. No lock is held while it syncs; appends arriving
//!   meanwhile form the next round. Versions are assigned when `append` is called.
//! - **Recovery.** Opening verifies every record. A bad record at the end of the last segment with
//!   data is a torn tail and is zeroed, unless a valid record follows it; a bad record anywhere else
//!   is [`rig_core::Error::Corrupt`] naming the file and offset.
//! - **Failures.** A failed fsync poisons the log (never retried). A full disk fails the batch that
//!   hit it and every batch after it ([`rig_core::Error::Unavailable`], "disk full"), erases their
//!   bytes and reuses their versions, so the log stays gap-free and works again once space is freed.
//! - **Snapshots** are files `snap-<version>.snap` (temporary file, sync, rename, directory sync),
//!   checksummed; the newest [`FileLogOptions::keep_snapshots`] are kept.
//! - **Lock.** A `LOCK` file (see [`LOCK_FILE`]) keeps a second process from opening the directory.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod errors;
mod file_log;
mod group_commit;
mod options;
mod preparer;
mod reader;
mod recovery;
mod segment;
mod shared;
mod snapshot_store;

pub use file_log::{FileLog, LOCK_FILE};
pub use options::FileLogOptions;
