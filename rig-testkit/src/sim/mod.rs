//! Deterministic simulation (DESIGN §7.3): a seeded, single-threaded runtime with paused time,
//! `buggify!` fault points, `sometimes!` coverage probes, a per-seed [`FaultPlan`] (swarm
//! testing) and a replay command for every failing seed.
//!
//! A simulation body typically runs a **safety phase** (clients and a nemesis injecting the
//! plan's faults, a [`History`](crate::history::History) recording every call), then a
//! **liveness phase** with [`FaultPlan::none`] in which the system must converge, and finally
//! runs the checkers in [`crate::check`].

mod nemesis;
mod net_nemesis;
mod probes;
mod runner;
mod trace;

pub use nemesis::FaultPlan;
pub use net_nemesis::net_nemesis;
pub use probes::{buggify_at, probe};
pub use runner::{SimCtx, SimReport, Simulation};
pub use trace::Trace;
