//! One conformance factory for every store the S3 log runs on: the suite's logs are `S3Log`s
//! opened on a store the test builds (in memory, a local directory, either behind injected
//! faults); a wipe swaps in a fresh one.

use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use rig_core::Result;
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::faulty_store::FaultyObjectStoreController;

/// A store for the suite, and what must outlive it.
pub(crate) struct Store {
    /// What the logs open.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The fault injector in front of it, for the object-store-fault cases.
    pub(crate) faults: Option<FaultyObjectStoreController>,
    /// Dropped with the store (e.g. the temporary directory its files live in).
    pub(crate) _keep: Option<tempfile::TempDir>,
}

impl Store {
    /// A store with nothing to keep alive and no fault controller for the suite.
    pub(crate) fn plain(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            faults: None,
            _keep: None,
        }
    }
}

/// Logs over one store from `fresh`, opened with `options`.
///
/// Every factory stands for one process: reopening after a clean stop or a crash opens a new
/// `S3Log` on the same store (the handle dropped with PUTs possibly in flight; the new writer
/// epoch fences them), a wipe swaps in a fresh store, and a second writer (with
/// [`Capability::Fencing`]) is another `S3Log` on the same store.
pub(crate) struct StoreFactory {
    fresh: Box<dyn Fn() -> Store + Send + Sync>,
    capabilities: Capabilities,
    options: S3LogOptions,
    current: Mutex<Store>,
}

impl StoreFactory {
    /// A factory whose stores come from `fresh`; the suite runs the cases `capabilities`
    /// allow (crash-reopen and wipe are always on).
    pub(crate) fn new(
        fresh: impl Fn() -> Store + Send + Sync + 'static,
        capabilities: Capabilities,
        options: S3LogOptions,
    ) -> Self {
        let current = Mutex::new(fresh());
        Self {
            fresh: Box::new(fresh),
            capabilities: capabilities
                .with(Capability::CrashReopen)
                .with(Capability::Wipe),
            options,
            current,
        }
    }

    async fn open(&self) -> Result<S3Log> {
        let store = self.current.lock().unwrap().store.clone();
        S3Log::open(store, self.options.clone()).await
    }
}

#[rig_core::async_trait]
impl LogFactory for StoreFactory {
    type Log = S3Log;

    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    async fn create(&self) -> Result<S3Log> {
        self.open().await
    }

    async fn reopen(&self, log: S3Log, after: Restart) -> Result<S3Log> {
        drop(log);
        if after == Restart::Wipe {
            // The old store (and its directory) goes only once the new one exists.
            let fresh = (self.fresh)();
            *self.current.lock().unwrap() = fresh;
        }
        self.open().await
    }

    fn object_store_faults(&self) -> Option<FaultyObjectStoreController> {
        self.current.lock().unwrap().faults.clone()
    }

    async fn open_second_writer(&self) -> Option<Result<S3Log>> {
        if self.capabilities.has(Capability::Fencing) {
            Some(self.open().await)
        } else {
            None
        }
    }
}
