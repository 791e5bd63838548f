//! History checkers: [`log`] for logs, [`linear`] for key-value linearizability.

pub mod linear;
pub mod log;
