//! rig's shared test kit: the [`Log`](rig_core::Log) conformance suite, history checkers and
//! deterministic fault-injection seams that every backend uses (DESIGN §6-7).
//!
//! # Writing a backend
//!
//! A backend is a type implementing [`rig_core::Log`]. Its contract lives in the `# Contract`
//! sections of that trait; this crate is how you prove you meet it.
//!
//! 1. **Do all I/O through the seams** ([`rig_core::seams`]): `Fs` for files, `Transport` for the
//!    network, `Clock` for time, `Rand` for randomness. Production code passes `StdFs`,
//!    `TokioClock`, ...; tests pass the simulated ones from this crate, so a failing run replays
//!    from its seed.
//! 2. **Write a [`conformance::LogFactory`]** in your crate's tests. It owns the log's storage
//!    (a temporary directory, a simulated disk), creates a fresh log, and reopens one after a
//!    clean close, a crash or a wipe. Declare what you support in
//!    [`conformance::Capabilities`]; a case needing a capability you lack still appears as a
//!    test and prints `n/a: needs capability X`, so nothing is skipped silently.
//! 3. **Run the suite from one macro line**: [`conformance_tests!`] expands to one `#[test]` per
//!    case, so one failure does not hide the rest. Each case is also a `pub async fn` in
//!    [`conformance::cases`] if you want to call it from your own harness.
//!
//! ```
//! use rig_core::{Log, MemLog, Result};
//! use rig_testkit::conformance::{self, Capabilities, Capability, LogFactory, Outcome, Restart};
//!
//! /// The factory for "my" log. Here the log is rig-core's MemLog; a file log would keep a
//! /// directory (or a simulated file system) here and open the log over it.
//! #[derive(Default)]
//! struct MyFactory;
//!
//! #[rig_core::async_trait]
//! impl LogFactory for MyFactory {
//!     type Log = MemLog;
//!     fn capabilities(&self) -> Capabilities {
//!         // MemLog keeps everything in memory, which is its "disk": a crash loses nothing.
//!         Capabilities::none().with(Capability::CrashReopen)
//!     }
//!     async fn create(&self) -> Result<MemLog> {
//!         Ok(MemLog::new())
//!     }
//!     async fn reopen(&self, log: MemLog, after: Restart) -> Result<MemLog> {
//!         assert_ne!(after, Restart::Wipe, "not declared, so the suite never asks");
//!         Ok(log.reopen())
//!     }
//! }
//!
//! // In `tests/log_conformance.rs`, this one line is the whole suite:
//! //     rig_testkit::conformance_tests!(MyFactory::default());
//! // Here, run two cases by hand:
//! let passed = conformance::run("crash_reopen_keeps_acknowledged", MyFactory,
//!     conformance::cases::crash_reopen_keeps_acknowledged);
//! assert_eq!(passed, Outcome::Passed);
//! let na = conformance::run("wipe_reopen_is_empty", MyFactory,
//!     conformance::cases::wipe_reopen_is_empty);
//! assert_eq!(na, Outcome::NotApplicable(Capability::Wipe));
//! ```
//!
//! 4. **Run it on a simulated disk.** Have the factory open the log over a
//!    [`simfs::SimFs`], return its controller from [`conformance::LogFactory::disk`] and
//!    declare [`conformance::Capability::DiskFaults`]: the suite then also checks that a full
//!    disk is never acknowledged and that a failed fsync poisons the log instead of being
//!    retried. A crash ([`conformance::Restart::Crash`]) should call
//!    [`simfs::SimFsController::crash`], which keeps, drops or tears every unsynced write.
//!    An object-store backend instead wraps its store in a `FaultyObjectStore` (feature
//!    `object-store`), returns its controller from `LogFactory::object_store_faults` and
//!    declares [`conformance::Capability::ObjectStoreFaults`]: failed, ambiguous and throttled
//!    PUTs must lose no acknowledged entry and duplicate none. A backend that fences writers
//!    returns a second writer on the same storage from
//!    [`conformance::LogFactory::open_second_writer`] and declares
//!    [`conformance::Capability::Fencing`]. A replicated backend returns a
//!    [`conformance::Cluster`] from [`conformance::LogFactory::cluster`] (crash, restart and
//!    wipe a node, isolate it, disturb the links, read what one node holds) and declares
//!    [`conformance::Capability::Replicated`]: the suite then crashes the leader in the middle
//!    of appends, partitions and heals it, duplicates and reorders messages, wipes a follower,
//!    and checks liveness once faults stop. [`conformance::NodeSlot`] keeps a node's log where
//!    the cluster can take it back to kill it, and [`proxy::TcpProxy`] partitions and disturbs
//!    a real TCP link.
//! 5. **Simulate the engine over it.** [`sim::Simulation`] runs a body per seed on a paused,
//!    single-threaded runtime; record calls in a [`history::History`], inject the seed's
//!    [`sim::FaultPlan`], then run [`check::log::check_log`] and
//!    [`check::linear::check_kv`]. A failing seed prints `RIG_SEED=... cargo test ...`.
//!    rig-testkit's own `tests/sim_file_engine.rs` is a worked example.
//!
//! **A complete worked backend**: `examples/src/one_file_log.rs` in rig's repository
//! (`rig_examples::one_file_log::OneFileLog`) is a small third-party-style log (one
//! append-only file, one fsync per append, a `rig_core::buggify!` fault point) written only
//! against rig-core's public API, and `examples/tests/conformance_one_file_log.rs` runs this
//! whole suite on it from one macro line. Start a new backend by copying those two files.
//!
//! # Crate map
//! - [`conformance`]: the suite, its factory trait, capabilities and macro.
//! - [`history`]: invoke/complete records with logical time; [`check`]: the log checker and the
//!   linearizability checker for key-value histories.
//! - [`sim`]: the deterministic simulation runner, `buggify!`, `sometimes!`, fault plans.
//! - [`simfs`]: a simulated disk (`SimFs`) with crash, fsync, full-disk and bit-flip faults.
//! - `faulty_store` (feature `object-store`): `FaultyObjectStore`, a fault-injecting
//!   `object_store::ObjectStore` wrapper with a seeded controller.
//! - [`simnet`]: a simulated network (`SimNet`) with delays, resets, partitions and pauses.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod check;
pub mod conformance;
#[cfg(feature = "object-store")]
pub mod faulty_store;
pub mod history;
pub mod proxy;
pub mod sim;
pub mod simfs;
pub mod simnet;
