//! Fault points for backend library code: [`buggify!`](crate::buggify) and [`buggify`].
//!
//! Backends depend on rig-core only, not on rig-testkit, yet their rarest error paths (an
//! ambiguous append, a short read, a slow sync) deserve exercise under simulation. A fault
//! point asks "should this call site misbehave now?": the answer is always `false` unless a
//! simulation installed a [`Decider`] on the current thread. rig-testkit's simulation runner
//! installs its seeded decider for the duration of each seed's run (single-threaded, so a
//! thread-local is exact), which also makes every reached site a `sometimes!` coverage probe
//! named `file:line`.
//!
//! In production no decider is ever installed: a fault point costs one thread-local read.
//!
//! ```
//! use rig_core::fault::{self, DeciderGuard};
//!
//! fn append() -> Result<u64, &'static str> {
//!     if rig_core::buggify!() {
//!         return Err("injected: outcome unknown");
//!     }
//!     Ok(1)
//! }
//! assert_eq!(append(), Ok(1)); // no simulation: never fires
//!
//! // What a simulation does (rig-testkit's runner installs a seeded decider instead):
//! let guard = DeciderGuard::install(|_site| true);
//! assert!(append().is_err());
//! drop(guard);
//! assert!(!fault::buggify("anywhere"));
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// Decides whether the fault point at `site` (`file:line`) fires now.
pub type Decider = Rc<dyn Fn(&'static str) -> bool>;

thread_local! {
    static DECIDER: RefCell<Option<Decider>> = const { RefCell::new(None) };
}

/// Whether the fault point at `site` fires now: `false` unless a [`Decider`] is installed on
/// this thread. Prefer the [`buggify!`](crate::buggify) macro, which names the site for you.
pub fn buggify(site: &'static str) -> bool {
    // Clone the decider out first so that a decider may itself reach a fault point.
    let decider = DECIDER.with(|d| d.borrow().clone());
    decider.is_some_and(|decide| decide(site))
}

/// Installs `decider` on the current thread until the guard drops; the previous decider (if
/// any) comes back then. Simulation runners use this; backends never do.
#[must_use = "the decider is removed when the guard drops"]
pub struct DeciderGuard {
    previous: Option<Decider>,
}

impl DeciderGuard {
    /// Installs `decider` on the current thread.
    pub fn install(decider: impl Fn(&'static str) -> bool + 'static) -> Self {
        let decider: Decider = Rc::new(decider);
        let previous = DECIDER.with(|d| d.borrow_mut().replace(decider));
        Self { previous }
    }
}

impl Drop for DeciderGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        DECIDER.with(|d| *d.borrow_mut() = previous);
    }
}

impl fmt::Debug for DeciderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeciderGuard")
            .field("restores_previous", &self.previous.is_some())
            .finish()
    }
}

/// A fault point: `true` when the simulation running on this thread decides this call site
/// should misbehave now; always `false` outside a simulation. See [`fault`](crate::fault).
///
/// ```
/// fn sync() -> std::io::Result<()> {
///     if rig_core::buggify!() {
///         return Err(std::io::Error::other("buggified fsync"));
///     }
///     Ok(())
/// }
/// assert!(sync().is_ok());
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::fault::buggify(concat!(file!(), ":", line!()))
    };
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::{buggify, DeciderGuard};

    #[test]
    fn never_fires_without_a_decider() {
        assert!((0..100).all(|_| !buggify("site")));
    }

    #[test]
    fn guards_nest_and_restore() {
        let outer = DeciderGuard::install(|site| site == "a");
        assert!(buggify("a") && !buggify("b"));
        {
            let _inner = DeciderGuard::install(|site| site == "b");
            assert!(!buggify("a") && buggify("b"));
        }
        assert!(buggify("a") && !buggify("b"));
        drop(outer);
        assert!(!buggify("a"));
    }

    #[test]
    fn the_decider_sees_the_site_and_may_reach_a_fault_point() {
        let calls = std::rc::Rc::new(Cell::new(0));
        let seen = std::rc::Rc::clone(&calls);
        let _guard = DeciderGuard::install(move |site| {
            seen.set(seen.get() + 1);
            site.ends_with("inner") || buggify("inner")
        });
        assert!(crate::buggify!());
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn deciders_are_per_thread() {
        let _guard = DeciderGuard::install(|_| true);
        assert!(buggify("here"));
        assert!(!std::thread::spawn(|| buggify("there")).join().unwrap());
    }
}
