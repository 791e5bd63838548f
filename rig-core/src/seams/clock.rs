//! The [`Clock`] seam.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

/// Time as rig's library code sees it.
///
/// Production uses tokio's clock, which the simulation pauses and advances deterministically
/// (`tokio::time::pause`), so a seed replays exactly.
#[async_trait]
pub trait Clock: Send + Sync + Debug + 'static {
    /// A monotonic instant.
    fn now(&self) -> Instant;
    /// Sleeps for `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The production [`Clock`]: tokio time (pausable in tests).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use rig_core::seams::{Clock, TokioClock};
/// let start = TokioClock.now();
/// TokioClock.sleep(std::time::Duration::from_secs(5)).await;
/// assert!(TokioClock.now() - start >= std::time::Duration::from_secs(5));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
