//! Shared helpers for rig-log-s3's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub(crate) mod factory;

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use rig_core::Operation;
use rig_log_s3::S3LogOptions;
use rig_testkit::faulty_store::{FaultyObjectStore, FaultyObjectStoreController};

/// Options for tests: a fixed seed, quick retries.
pub(crate) fn options(prefix: &str) -> S3LogOptions {
    S3LogOptions {
        prefix: prefix.into(),
        seed: Some(7),
        retry_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    }
}

/// An empty in-memory store.
pub(crate) fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

/// Wraps `inner` in rig-testkit's fault injector with every fault confined to log batch keys
/// (those containing `LOG/`): opening, fencing and snapshots go through untouched, and
/// `stats().targeted_puts` counts the log PUTs a writer issued. No fault is on yet.
pub(crate) fn faulty(
    inner: Arc<dyn ObjectStore>,
) -> (Arc<dyn ObjectStore>, FaultyObjectStoreController) {
    let (store, control) = FaultyObjectStore::wrap(inner, 7);
    control.only_keys_containing(Some("LOG/"));
    (store, control)
}

/// The `i`-th test operation.
pub(crate) fn op(i: u64) -> Operation {
    Operation::new(format!("op-{i}"), i.to_le_bytes().to_vec())
}

/// How long any one test may run before it fails instead of hanging CI. Generous: the slowest
/// test takes a few seconds; only a hang (a livelock, a lost wake-up) comes near it.
pub(crate) const TEST_BOUND: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs a test body, failing with a clear message if it has not finished within [`TEST_BOUND`].
pub(crate) async fn bounded<F: std::future::Future>(what: &str, body: F) -> F::Output {
    match tokio::time::timeout(TEST_BOUND, body).await {
        Ok(out) => out,
        Err(_) => {
            panic!("{what}: still running after {TEST_BOUND:?}; it hangs (see the test's notes)")
        }
    }
}
