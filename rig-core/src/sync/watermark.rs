//! [`Watermark`]: a monotonically advancing version that tasks can wait on, or a poison.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::loom_shim::Mutex;
use crate::{Error, Result};

#[derive(Debug)]
struct State {
    value: u64,
    poison: Option<Error>,
    waiters: Vec<Waker>,
}

/// A monotonically increasing version (durable or committed point) that tasks wait on.
///
/// Group commit in the backends is built on it: appenders wait for `version`, one syncer advances
/// the watermark after each fsync and wakes them all; a failed fsync [`poison`](Watermark::poison)s
/// it so every waiter, present and future, fails instead of being acknowledged.
///
/// ```
/// # tokio_test_block_on(async {
/// use rig_core::sync::Watermark;
/// let w = std::sync::Arc::new(Watermark::new(0));
/// let w2 = w.clone();
/// let waiter = tokio::spawn(async move { w2.wait_for(5).await });
/// w.advance(3);
/// w.advance(7);
/// assert_eq!(waiter.await.unwrap().unwrap(), 7);
/// assert_eq!(w.get(), 7);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Watermark {
    state: Mutex<State>,
}

impl Watermark {
    /// Starts at `value`.
    pub fn new(value: u64) -> Self {
        Self {
            state: Mutex::new(State {
                value,
                poison: None,
                waiters: Vec::new(),
            }),
        }
    }

    /// The current value (it never decreases).
    pub fn get(&self) -> u64 {
        self.state.lock().expect("watermark lock").value
    }

    /// The poison, if any.
    pub fn poisoned(&self) -> Option<Error> {
        self.state.lock().expect("watermark lock").poison.clone()
    }

    /// Raises the value to `value` (a lower value is ignored) and wakes the waiters.
    pub fn advance(&self, value: u64) {
        let waiters = {
            let mut s = self.state.lock().expect("watermark lock");
            if value <= s.value {
                return;
            }
            s.value = value;
            std::mem::take(&mut s.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Fails every present and future waiter with `error` (the first poison wins). The value stays
    /// where it was: what was durable stays durable.
    pub fn poison(&self, error: Error) {
        let waiters = {
            let mut s = self.state.lock().expect("watermark lock");
            if s.poison.is_none() {
                s.poison = Some(error);
            }
            std::mem::take(&mut s.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Waits until the value is at least `target` and returns it, or fails with the poison.
    /// A value already reached wins over a later poison: a durable version stays acknowledged.
    pub fn wait_for(&self, target: u64) -> WaitFor<'_> {
        WaitFor { mark: self, target }
    }

    fn poll_reached(&self, target: u64, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        let mut s = self.state.lock().expect("watermark lock");
        if s.value >= target {
            return Poll::Ready(Ok(s.value));
        }
        if let Some(e) = &s.poison {
            return Poll::Ready(Err(e.clone()));
        }
        if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            s.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The future of [`Watermark::wait_for`].
#[derive(Debug)]
pub struct WaitFor<'a> {
    mark: &'a Watermark,
    target: u64,
}

impl Future for WaitFor<'_> {
    type Output = Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.mark.poll_reached(self.target, cx)
    }
}
