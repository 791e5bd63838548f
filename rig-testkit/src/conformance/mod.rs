//! The [`Log`](rig_core::Log) conformance suite every backend runs (DESIGN §7.2).
//!
//! - [`LogFactory`]: the backend's way to create a log and reopen it after a [`Restart`].
//! - [`Cluster`]: control over a replicated log's nodes (crash, restart, wipe, partition,
//!   disturbed links), for the replicated cases.
//! - [`Capabilities`]: what the backend can do beyond the base contract, declared explicitly.
//! - [`cases`]: one `pub async fn` per property, each taking the factory by value and returning an
//!   [`Outcome`] (a broken property panics with a message naming the backend and the property).
//! - [`conformance_tests!`](crate::conformance_tests): one `#[test]` per case.
//!
//! ```
//! use rig_testkit::conformance::MemLogFactory;
//!
//! // In a backend's `tests/log_conformance.rs`:
//! rig_testkit::conformance_tests!(MemLogFactory);
//! # fn main() {}
//! ```

pub mod cases;
mod cluster;
mod factory;
mod mem;
mod slot;
mod util;

pub use cluster::Cluster;
pub use factory::{Capabilities, Capability, LogFactory, Restart};
pub use mem::MemLogFactory;
pub use slot::NodeSlot;

use std::future::Future;

/// How a case ended, when it did not panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every property held.
    Passed,
    /// The backend lacks the capability the case needs; reported by name, never silently.
    NotApplicable(Capability),
}

/// The name of every case in [`cases`], in the order [`conformance_tests!`](crate::conformance_tests)
/// generates them.
pub const CASE_NAMES: &[&str] = &[
    "empty_log_bounds",
    "append_read_round_trip",
    "read_bounds",
    "versions_are_gap_free",
    "append_order_follows_calls",
    "concurrent_appenders",
    "readers_see_prefixes",
    "tailing_wakes_up",
    "clean_reopen_keeps_everything",
    "crash_reopen_keeps_acknowledged",
    "wipe_reopen_is_empty",
    "snapshot_save_load",
    "compaction_below_snapshot",
    "read_below_first_version_errors",
    "closed_log_errors",
    "disk_full_is_not_acknowledged",
    "fsync_failure_poisons",
    "object_store_faults_lose_nothing",
    "stale_writer_is_fenced",
    "leader_crash_mid_append",
    "partition_and_heal",
    "duplicated_and_reordered_messages",
    "wiped_node_rejoins",
    "liveness_after_faults_stop",
];

/// How long one conformance case may run before it fails as a hang.
pub const CASE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs one case on a fresh single-threaded tokio runtime and reports it: panics when a property
/// is broken or the case runs past [`CASE_TIME_LIMIT`], prints `n/a: needs capability X` when the
/// backend lacks what the case needs.
///
/// ```
/// use rig_testkit::conformance::{cases, run, MemLogFactory, Outcome};
/// assert_eq!(run("append_read_round_trip", MemLogFactory, cases::append_read_round_trip), Outcome::Passed);
/// ```
pub fn run<F, Fut>(name: &str, factory: F, case: impl FnOnce(F) -> Fut) -> Outcome
where
    F: LogFactory,
    Fut: Future<Output = Outcome>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime for a conformance case");
    // A hang must fail the case with its name instead of stalling CI until its time limit.
    let outcome = runtime
        .block_on(async { tokio::time::timeout(CASE_TIME_LIMIT, case(factory)).await })
        .unwrap_or_else(|_| {
            panic!("conformance {name}: did not finish within {CASE_TIME_LIMIT:?} (a hang)")
        });
    match outcome {
        Outcome::Passed => println!("conformance {name}: passed"),
        Outcome::NotApplicable(cap) => println!("conformance {name}: n/a: needs capability {cap}"),
    }
    outcome
}

/// Expands to one `#[test]` per conformance case, each running on a fresh factory built by
/// evaluating `$factory` (so it may be a constructor call).
///
/// A case the backend lacks a capability for still becomes a test; it passes and prints
/// `n/a: needs capability X`. A generated `conformance_covers_every_case` test fails if this
/// macro and [`CASE_NAMES`] ever disagree.
///
/// ```
/// mod mem_log_conformance {
///     rig_testkit::conformance_tests!(rig_testkit::conformance::MemLogFactory::default());
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@cases $factory;
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
            leader_crash_mid_append,
            partition_and_heal,
            duplicated_and_reordered_messages,
            wiped_node_rejoins,
            liveness_after_faults_stop,
        );
    };
    (@cases $factory:expr; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run(
                    stringify!($case),
                    $factory,
                    $crate::conformance::cases::$case,
                );
            }
        )*

        #[test]
        fn conformance_covers_every_case() {
            let generated: &[&str] = &[$(stringify!($case)),*];
            assert_eq!(generated, $crate::conformance::CASE_NAMES);
        }
    };
}
