//! Small concurrency primitives shared by the engine and the backends.
//!
//! Primitives import `Mutex` and atomics through the `loom_shim` module so that `--cfg loom`
//! model-checks them (see `tests/loom_watermark.rs`).

mod loom_shim;
mod watermark;

pub use watermark::{WaitFor, Watermark};
