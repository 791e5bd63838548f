//! rig's core: put a versioned log in front of a stateful service so that no acknowledged
//! operation is lost.
//!
//! You write a [`Service`] (a state machine that validates and applies [`Operation`]s, takes
//! snapshots and restores them), pick a [`Log`] (a local file, S3, a primary/replica pair, a Raft
//! group; [`MemLog`] here), and drive it through the engine [`Rig`].
//!
//! # Quick start
//! ```
//! use rig_core::{async_trait, MemLog, Operation, Rejection, Resources, Rig, Service, ServiceError};
//! use std::collections::BTreeMap;
//!
//! /// A tiny key-value service.
//! #[derive(Default)]
//! struct Kv { version: u64, map: BTreeMap<String, String> }
//!
//! #[async_trait]
//! impl Service for Kv {
//!     type Output = Option<String>; // the previous value
//!     async fn version(&self) -> u64 { self.version }
//!     async fn validate(&self, op: &Operation) -> Result<(), Rejection> {
//!         if op.method != "set" { return Err(Rejection::new("unknown_method", &op.method)); }
//!         op.decode::<(String, String)>().map(|_| ())
//!     }
//!     async fn resources(&self, op: &Operation) -> Resources {
//!         // Sets of different keys are validated and logged together.
//!         op.decode::<(String, String)>().map_or(Resources::All, |(k, _)| Resources::keys([k]))
//!     }
//!     async fn apply(&mut self, version: u64, op: &Operation) -> Result<Self::Output, ServiceError> {
//!         let (k, v): (String, String) = op.decode().map_err(|e| ServiceError(e.to_string()))?;
//!         self.version = version;
//!         Ok(self.map.insert(k, v))
//!     }
//!     async fn snapshot(&self) -> Result<bytes::Bytes, ServiceError> {
//!         serde_json::to_vec(&self.map).map(Into::into).map_err(|e| ServiceError(e.to_string()))
//!     }
//!     async fn restore(&mut self, version: u64, data: bytes::Bytes) -> Result<(), ServiceError> {
//!         self.map = serde_json::from_slice(&data).map_err(|e| ServiceError(e.to_string()))?;
//!         self.version = version;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let log = MemLog::new();
//! let rig = Rig::open(Kv::default(), log.clone()).await?;
//! let done = rig.execute(Operation::json("set", &("lang", "rust"))?).await?;
//! assert_eq!(done.version, 1);
//! assert!(rig.execute(Operation::new("drop_table", "")).await.is_err()); // rejected, not logged
//! rig.close().await?;
//!
//! // Reopen: the state is rebuilt from the log.
//! let rig = Rig::open(Kv::default(), log.reopen()).await?;
//! assert_eq!(rig.state().await.map["lang"], "rust");
//! # Ok::<(), rig_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Crate map
//! - [`Operation`], [`LogPayload`] and their one binary encoding in [`codec`].
//! - [`Service`] (your state machine) and [`Log`] (a durability strategy), with their contracts.
//! - [`Rig`], the engine; [`MemLog`], the in-memory reference log.
//! - [`seams`]: the I/O traits backends use so they can run in rig-testkit's simulation.
//! - [`sync`]: small concurrency primitives for backends (group commit watermarks).
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod codec;
#[doc(hidden)]
pub mod doc_support;
mod engine;
mod error;
pub mod fault;
mod log;
mod mem_log;
pub mod net;
mod operation;
pub mod seams;
mod service;
pub mod sync;

pub use async_trait::async_trait;
pub use engine::{Executed, Options, Rig, SnapshotPolicy, Status};
pub use error::{Error, Rejection, Result};
pub use log::{AppendFuture, Durability, Log, Role, Snapshot};
pub use mem_log::MemLog;
pub use operation::{ClientSeq, LogPayload, Operation};
pub use service::{Resources, Service, ServiceError};
