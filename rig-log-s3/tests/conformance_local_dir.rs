//! rig-testkit's Log conformance suite on the S3 log's local-directory mode: real files in a
//! temporary directory, fsynced, fenced by the directory's lock file.
//!
//! Each factory stands for one process: it holds the directory's writer lock (one
//! `LocalDirStore`) across reopens, as a process does, so a crash (dropping the log with PUTs in
//! flight) and a second writer are modelled in-process, fenced by the writer epoch exactly as on
//! S3. Across processes the lock refuses a second writer; `local_dir.rs` tests that.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::ObjectStore;
use rig_core::Result;
use rig_log_s3::{LocalDirStore, S3Log, S3LogOptions};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::faulty_store::{FaultyObjectStore, FaultyObjectStoreController};

/// One directory and the process's writer store on it (maybe behind injected faults).
struct Disk {
    // Dropped last: the store's files live in it.
    _dir: tempfile::TempDir,
    store: Arc<dyn ObjectStore>,
    faults: Option<FaultyObjectStoreController>,
}

impl Disk {
    fn fresh(faults: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let local: Arc<dyn ObjectStore> =
            Arc::new(LocalDirStore::open_writer(dir.path()).expect("lock a fresh directory"));
        let (store, faults) = if faults {
            let (store, control) = FaultyObjectStore::wrap(local, 11);
            (store, Some(control))
        } else {
            (local, None)
        };
        Self {
            _dir: dir,
            store,
            faults,
        }
    }
}

struct LocalDirFactory {
    faults: bool,
    disk: Mutex<Disk>,
}

impl LocalDirFactory {
    fn new(faults: bool) -> Self {
        Self {
            faults,
            disk: Mutex::new(Disk::fresh(faults)),
        }
    }

    async fn open(&self) -> Result<S3Log> {
        let store = self.disk.lock().unwrap().store.clone();
        let options = S3LogOptions {
            // Small batches and a short delay so cases cross batch boundaries and pipeline.
            max_batch_ops: 5,
            max_batch_delay: Duration::from_millis(1),
            max_in_flight: 4,
            ..common::options("conformance")
        };
        S3Log::open(store, options).await
    }
}

#[rig_core::async_trait]
impl LogFactory for LocalDirFactory {
    type Log = S3Log;

    fn capabilities(&self) -> Capabilities {
        let caps = Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
            .with(Capability::Fencing);
        if self.faults {
            caps.with(Capability::ObjectStoreFaults)
        } else {
            caps
        }
    }

    async fn create(&self) -> Result<S3Log> {
        self.open().await
    }

    async fn reopen(&self, log: S3Log, after: Restart) -> Result<S3Log> {
        // Clean or crash: the handle goes away, PUTs maybe in flight; the new instance fences
        // them. Wipe: a new, empty directory.
        drop(log);
        if after == Restart::Wipe {
            *self.disk.lock().unwrap() = Disk::fresh(self.faults);
        }
        self.open().await
    }

    fn object_store_faults(&self) -> Option<FaultyObjectStoreController> {
        self.disk.lock().unwrap().faults.clone()
    }

    async fn open_second_writer(&self) -> Option<Result<S3Log>> {
        Some(self.open().await)
    }
}

// rig-testkit's runner fails a case that runs past `CASE_TIME_LIMIT`, so a hang cannot stall CI.
mod local_dir {
    use super::LocalDirFactory;
    rig_testkit::conformance_tests!(LocalDirFactory::new(false));
}

mod local_dir_with_faults {
    use super::LocalDirFactory;
    rig_testkit::conformance_tests!(LocalDirFactory::new(true));
}
