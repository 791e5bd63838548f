//! [`FaultyObjectStore`]: wraps any [`object_store::ObjectStore`] and injects the faults an
//! object-store backend must survive, drawn from a seeded generator (DESIGN §7.3). Needs the
//! `object-store` feature.
//!
//! - **errors before the write**: the PUT fails and nothing was written;
//! - **errors after the write**: the object landed but the caller sees a failure (an
//!   ambiguous write: a retry that blindly rewrites may duplicate, a log that acknowledges
//!   nothing loses nothing);
//! - **latency**: every request waits up to a bound, and every PUT a fixed time on top (tokio
//!   time, so paused time makes it free);
//! - **stalls**: PUTs wait before or after the write until the test releases them, to hold a
//!   writer mid-write while something else happens (a second writer opens, a later batch lands);
//! - **throttling**: any request fails with a 503-like "slow down" error before reaching the store;
//! - **conditional-write races**: just before a conditional PUT (`PutMode::Create` or
//!   `PutMode::Update`) a competing writer's object appears at the same key, so the PUT fails
//!   with `AlreadyExists` or `Precondition`.
//!
//! Each failure has a per-mille rate (drawn per request) and a "next n" counter for directed
//! tests; failures before and after the write also have a period ("every n-th PUT") for
//! deterministic runs. A key filter confines faults to some keys.
//! [`FaultyObjectStoreController::stats`] counts what fired, so a test can prove its faults were
//! exercised, and counts PUTs to the filtered keys, so a test can wait until a PUT was issued.
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

pub use controller::{FaultyObjectStoreController, FaultyObjectStoreStats, StallPoint};
pub use store::FaultyObjectStore;
