//! [`FaultyObjectStore`]: wraps any [`object_store::ObjectStore`] and injects the faults an
//! object-store backend must survive, drawn from a seeded generator (DESIGN §7.3). Needs the
//! `object-store` feature.
//!
//! - **errors before the write**: the PUT fails and nothing was written;
//! - **errors after the write**: the object landed but the caller sees a failure (an
//!   ambiguous write: a retry that blindly rewrites may duplicate, a log that acknowledges
//!   nothing loses nothing);
//! - **latency**: every request waits up to a bound (tokio time, so paused time makes it free);
//! - **throttling**: any request fails with a 503-like "slow down" error before reaching the store;
//! - **conditional-write races**: just before a conditional PUT (`PutMode::Create` or
//!   `PutMode::Update`) a competing writer's object appears at the same key, so the PUT fails
//!   with `AlreadyExists` or `Precondition`.
//!
//! Each fault has a per-mille rate (drawn per request) and a "next n" counter for directed
//! tests; a key filter confines faults to some keys. [`FaultyObjectStoreController::stats`]
//! counts what fired, so a test can prove its faults were exercised.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use object_store::{memory::InMemory, path::Path, ObjectStore, ObjectStoreExt};
//! use rig_testkit::faulty_store::FaultyObjectStore;
//!
//! let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
//! let (store, ctl) = FaultyObjectStore::wrap(Arc::clone(&inner), 7);
//! ctl.fail_after_next_puts(1);
//! let key = Path::from("log/1");
//! assert!(store.put(&key, "entry".into()).await.is_err()); // the caller sees a failure...
//! assert!(inner.get(&key).await.is_ok()); // ...but the write landed
//! assert_eq!(ctl.stats().failed_after_write, 1);
//! # });
//! ```

mod controller;
mod store;
#[cfg(test)]
mod tests;

pub use controller::{FaultyObjectStoreController, FaultyObjectStoreStats};
pub use store::FaultyObjectStore;
