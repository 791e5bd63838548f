//! One `pub async fn` per property of the [`Log`](rig_core::Log) contract.
//!
//! Each takes a fresh [`LogFactory`](super::LogFactory) by value, returns
//! [`Outcome::Passed`](super::Outcome::Passed) or
//! [`Outcome::NotApplicable`](super::Outcome::NotApplicable), and panics with the backend name
//! and the broken property otherwise. Call them through [`run`](super::run) or
//! [`conformance_tests!`](crate::conformance_tests).

mod basic;
mod concurrency;
mod disk;
mod recorded;
mod replicated;
mod restart;
mod snapshot;
mod takeover;

pub use basic::{
    append_order_follows_calls, append_read_round_trip, empty_log_bounds, read_bounds,
    versions_are_gap_free,
};
pub use concurrency::{concurrent_appenders, readers_see_prefixes, tailing_wakes_up};
pub use disk::{disk_full_is_not_acknowledged, fsync_failure_poisons};
pub use replicated::{
    duplicated_and_reordered_messages, leader_crash_mid_append, liveness_after_faults_stop,
    partition_and_heal, wiped_node_rejoins,
};
pub use restart::{
    clean_reopen_keeps_everything, closed_log_errors, crash_reopen_keeps_acknowledged,
    wipe_reopen_is_empty,
};
pub use snapshot::{
    compaction_below_snapshot, read_below_first_version_errors, snapshot_save_load,
};
pub use takeover::{object_store_faults_lose_nothing, stale_writer_is_fenced};
