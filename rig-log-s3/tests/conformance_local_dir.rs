//! rig-testkit's Log conformance suite on the S3 log's local-directory mode: real files in a
//! temporary directory, fsynced, fenced by the directory's lock file.
//!
//! Each factory stands for one process: it holds the directory's writer lock (one
//! `LocalDirStore`) across reopens, as a process does, so a crash (dropping the log with PUTs in
//! flight) and a second writer are modelled in-process, fenced by the writer epoch exactly as on
//! S3. Across processes the lock refuses a second writer; `local_dir.rs` tests that.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::factory::{Store, StoreFactory};
use object_store::ObjectStore;
use rig_log_s3::{LocalDirStore, S3LogOptions};
use rig_testkit::conformance::{Capabilities, Capability};
use rig_testkit::faulty_store::FaultyObjectStore;

/// A fresh temporary directory and the process's writer store on it, maybe behind injected
/// faults the suite's cases drive.
fn fresh_dir(faults: bool) -> Store {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalDirStore::open_writer(dir.path()).expect("lock a fresh directory"));
    let (store, faults) = if faults {
        let (store, control) = FaultyObjectStore::wrap(local, 11);
        (store, Some(control))
    } else {
        (local, None)
    };
    Store {
        store,
        faults,
        _keep: Some(dir),
    }
}

fn factory(faults: bool) -> StoreFactory {
    let capabilities = Capabilities::none().with(Capability::Fencing);
    let capabilities = if faults {
        capabilities.with(Capability::ObjectStoreFaults)
    } else {
        capabilities
    };
    let options = S3LogOptions {
        // Small batches and a short delay so cases cross batch boundaries and pipeline.
        max_batch_ops: 5,
        max_batch_delay: Duration::from_millis(1),
        max_in_flight: 4,
        ..common::options("conformance")
    };
    StoreFactory::new(move || fresh_dir(faults), capabilities, options)
}

// rig-testkit's runner fails a case that runs past `CASE_TIME_LIMIT`, so a hang cannot stall CI.
mod local_dir {
    rig_testkit::conformance_tests!(super::factory(false));
}

mod local_dir_with_faults {
    rig_testkit::conformance_tests!(super::factory(true));
}
