//! rig-testkit's Log conformance suite over `InMemory`, plain and behind injected faults (PUTs that
//! fail before the write, PUTs that land but report failure, latency), and behind rig-testkit's
//! `FaultyObjectStore` with the object-store-fault and fencing cases.

mod common;

use std::time::Duration;

use common::factory::{Store, StoreFactory};
use rig_log_s3::S3LogOptions;
use rig_testkit::conformance::{Capabilities, Capability};
use rig_testkit::faulty_store::FaultyObjectStore;

/// Small batches and a short delay so cases cross batch boundaries and pipeline.
fn small_batches(prefix: &str) -> S3LogOptions {
    S3LogOptions {
        max_batch_ops: 5,
        max_batch_delay: Duration::from_millis(1),
        max_in_flight: 4,
        ..common::options(prefix)
    }
}

/// A fresh in-memory store: every 3rd log PUT fails before the write, every 4th lands but
/// reports an error, each takes 1 ms.
fn faulty_memory() -> Store {
    let (store, control) = common::faulty(common::memory());
    control.set_fail_before_write_period(3);
    control.set_fail_after_write_period(4);
    control.set_put_latency(Duration::from_millis(1));
    Store::plain(store)
}

/// A fresh in-memory store behind a fault injector the suite's cases drive.
fn controlled_memory() -> Store {
    let (store, control) = FaultyObjectStore::wrap(common::memory(), 5);
    Store {
        store,
        faults: Some(control),
        _keep: None,
    }
}

// rig-testkit's runner fails a case that runs past `CASE_TIME_LIMIT`, so a hang cannot stall CI.
mod in_memory {
    use super::*;
    rig_testkit::conformance_tests!(StoreFactory::new(
        || Store::plain(common::memory()),
        Capabilities::none(),
        small_batches("conformance"),
    ));
}

mod in_memory_with_faults {
    use super::*;
    rig_testkit::conformance_tests!(StoreFactory::new(
        faulty_memory,
        Capabilities::none(),
        small_batches("conformance"),
    ));
}

mod testkit_faulty_store {
    use super::*;
    rig_testkit::conformance_tests!(StoreFactory::new(
        controlled_memory,
        Capabilities::none()
            .with(Capability::Fencing)
            .with(Capability::ObjectStoreFaults),
        S3LogOptions {
            max_in_flight: S3LogOptions::default().max_in_flight,
            ..small_batches("testkit-faults")
        },
    ));
}
