//! rig-testkit's Log conformance suite over `InMemory`, plain and behind injected faults (PUTs that
//! fail before the write, PUTs that land but report failure, latency).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::ObjectStore;
use rig_core::Result;
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};

use common::faulty_store::FaultyStore;

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
        let (store, control) = FaultyStore::wrap(common::memory());
        // Every 3rd log PUT fails before the write, every 4th lands but reports an error.
        control.fail_periodically(3, 4);
        control.put_latency(Duration::from_millis(1));
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

/// `rig_testkit::conformance_tests!`, with every case bounded by [`common::bounded`] so a hang
/// fails with a clear message instead of stalling CI.
macro_rules! bounded_conformance_tests {
    ($factory:expr) => {
        bounded_conformance_tests!(@cases $factory;
            empty_log_bounds,
            append_read_round_trip,
            read_bounds,
            versions_are_gap_free,
            append_order_follows_calls,
            concurrent_appenders,
            readers_see_prefixes,
            tailing_wakes_up,
            clean_reopen_keeps_everything,
            crash_reopen_keeps_acknowledged,
            wipe_reopen_is_empty,
            snapshot_save_load,
            compaction_below_snapshot,
            read_below_first_version_errors,
            closed_log_errors,
            disk_full_is_not_acknowledged,
            fsync_failure_poisons,
            object_store_faults_lose_nothing,
            stale_writer_is_fenced,
        );
    };
    (@cases $factory:expr; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                rig_testkit::conformance::run(stringify!($case), $factory, |f| async move {
                    crate::common::bounded(
                        stringify!($case),
                        rig_testkit::conformance::cases::$case(f),
                    )
                    .await
                });
            }
        )*

        #[test]
        fn conformance_covers_every_case() {
            let generated: &[&str] = &[$(stringify!($case)),*];
            assert_eq!(generated, rig_testkit::conformance::CASE_NAMES);
        }
    };
}

mod in_memory {
    use super::S3Factory;
    bounded_conformance_tests!(S3Factory::new(false));
}

mod in_memory_with_faults {
    use super::S3Factory;
    bounded_conformance_tests!(S3Factory::new(true));
}
