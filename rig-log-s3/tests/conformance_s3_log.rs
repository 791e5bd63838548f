//! rig-testkit's Log conformance suite over `InMemory`, plain and behind injected faults (PUTs that
//! fail before the write, PUTs that land but report failure, latency).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::ObjectStore;
use rig_core::Result;
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::faulty_store::{FaultyObjectStore, FaultyObjectStoreController};

/// Logs over one store; a wipe swaps in a fresh store.
struct S3Factory {
    faults: bool,
    store: Mutex<Arc<dyn ObjectStore>>,
}

impl S3Factory {
    fn new(faults: bool) -> Self {
        Self {
            faults,
            store: Mutex::new(Self::fresh(faults)),
        }
    }

    fn fresh(faults: bool) -> Arc<dyn ObjectStore> {
        if !faults {
            return common::memory();
        }
        let (store, control) = common::faulty(common::memory());
        // Every 3rd log PUT fails before the write, every 4th lands but reports an error.
        control.set_fail_before_write_period(3);
        control.set_fail_after_write_period(4);
        control.set_put_latency(Duration::from_millis(1));
        store
    }

    fn options(&self) -> S3LogOptions {
        S3LogOptions {
            // Small batches and a short delay so cases cross batch boundaries and pipeline.
            max_batch_ops: 5,
            max_batch_delay: Duration::from_millis(1),
            max_in_flight: 4,
            ..common::options("conformance")
        }
    }

    async fn open(&self) -> Result<S3Log> {
        let store = self.store.lock().unwrap().clone();
        S3Log::open(store, self.options()).await
    }
}

#[rig_core::async_trait]
impl LogFactory for S3Factory {
    type Log = S3Log;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
    }

    async fn create(&self) -> Result<S3Log> {
        self.open().await
    }

    async fn reopen(&self, log: S3Log, after: Restart) -> Result<S3Log> {
        match after {
            Restart::Clean => drop(log),
            // A crash: the handle goes away with PUTs possibly in flight; the new instance
            // fences them.
            Restart::Crash => drop(log),
            Restart::Wipe => {
                drop(log);
                *self.store.lock().unwrap() = Self::fresh(self.faults);
            }
        }
        self.open().await
    }
}

/// Logs over rig-testkit's `FaultyObjectStore`, with the hooks for the object-store-fault and
/// fencing cases: the controller injects errors before and after writes, and a second writer is a
/// new `S3Log` opened on the same store.
struct TestkitFaultsFactory {
    store: Mutex<(Arc<dyn ObjectStore>, FaultyObjectStoreController)>,
}

impl TestkitFaultsFactory {
    fn new() -> Self {
        Self {
            store: Mutex::new(Self::fresh()),
        }
    }

    fn fresh() -> (Arc<dyn ObjectStore>, FaultyObjectStoreController) {
        FaultyObjectStore::wrap(common::memory(), 5)
    }

    async fn open(&self) -> Result<S3Log> {
        let store = self.store.lock().unwrap().0.clone();
        let options = S3LogOptions {
            max_batch_ops: 5,
            max_batch_delay: Duration::from_millis(1),
            ..common::options("testkit-faults")
        };
        S3Log::open(store, options).await
    }
}

#[rig_core::async_trait]
impl LogFactory for TestkitFaultsFactory {
    type Log = S3Log;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
            .with(Capability::Fencing)
            .with(Capability::ObjectStoreFaults)
    }

    async fn create(&self) -> Result<S3Log> {
        self.open().await
    }

    async fn reopen(&self, log: S3Log, after: Restart) -> Result<S3Log> {
        drop(log);
        if after == Restart::Wipe {
            *self.store.lock().unwrap() = Self::fresh();
        }
        self.open().await
    }

    fn object_store_faults(&self) -> Option<FaultyObjectStoreController> {
        Some(self.store.lock().unwrap().1.clone())
    }

    async fn open_second_writer(&self) -> Option<Result<S3Log>> {
        Some(self.open().await)
    }
}

// rig-testkit's runner fails a case that runs past `CASE_TIME_LIMIT`, so a hang cannot stall CI.
mod in_memory {
    use super::S3Factory;
    rig_testkit::conformance_tests!(S3Factory::new(false));
}

mod in_memory_with_faults {
    use super::S3Factory;
    rig_testkit::conformance_tests!(S3Factory::new(true));
}

mod testkit_faulty_store {
    use super::TestkitFaultsFactory;
    rig_testkit::conformance_tests!(TestkitFaultsFactory::new());
}
