//! History checkers: [`log`] for logs, [`linear`] for key-value linearizability, and
//! [`recording`] to record any `Log`'s history for the log checker.

pub mod linear;
pub mod log;
pub mod recording;
