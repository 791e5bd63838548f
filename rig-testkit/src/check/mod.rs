//! History checkers: [`log`] for logs.

pub mod log;
