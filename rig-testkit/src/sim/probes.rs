//! `buggify!` fault points and `sometimes!` coverage probes, scoped to the current thread (one
//! simulation runs on one thread).

use std::cell::RefCell;
use std::collections::BTreeMap;

use rig_core::seams::{Rand, SeededRand};

#[derive(Debug, Default)]
struct Registry {
    /// `Some` while a simulation seed runs with buggify enabled.
    buggify: Option<SeededRand>,
    /// Call site → whether it is active in this run.
    sites: BTreeMap<&'static str, bool>,
    /// Probe → how many times its condition held.
    probes: BTreeMap<&'static str, u64>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Enables `buggify!` for one seed's run on this thread (each call site is activated with
/// probability 1/4 for the run, then fires 1/4 of the times it is reached).
pub(crate) fn enable_buggify(rand: SeededRand) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.buggify = Some(rand);
        r.sites.clear();
    });
}

/// Disables `buggify!` on this thread.
pub(crate) fn disable_buggify() {
    REGISTRY.with(|r| r.borrow_mut().buggify = None);
}

/// Clears the coverage probes on this thread.
pub(crate) fn reset_probes() {
    REGISTRY.with(|r| r.borrow_mut().probes.clear());
}

/// Every probe reached on this thread since the last reset, with its hit count.
pub(crate) fn probe_counts() -> BTreeMap<&'static str, u64> {
    REGISTRY.with(|r| r.borrow().probes.clone())
}

/// The function behind [`buggify!`](crate::buggify): whether the fault at `site` fires now.
/// Always `false` outside a simulation.
pub fn buggify_at(site: &'static str) -> bool {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let Registry {
            buggify,
            sites,
            probes,
        } = &mut *r;
        let Some(rand) = buggify.as_ref() else {
            return false;
        };
        let active = *sites.entry(site).or_insert_with(|| rand.below(4) == 0);
        let fired = active && rand.below(4) == 0;
        *probes.entry(site).or_default() += u64::from(fired);
        fired
    })
}

/// The function behind [`sometimes!`](crate::sometimes): records that probe `name` was reached,
/// and whether its condition held.
pub fn probe(name: &'static str, condition: bool) {
    REGISTRY.with(|r| *r.borrow_mut().probes.entry(name).or_default() += u64::from(condition));
}

/// A fault point: `true` when the simulation decides this call site should misbehave now.
/// Outside a simulation run it is always `false`. Each site reached also becomes a coverage
/// probe named `file:line`.
///
/// ```
/// fn write_block() -> std::io::Result<()> {
///     if rig_testkit::buggify!() {
///         return Err(std::io::Error::other("buggified"));
///     }
///     Ok(())
/// }
/// assert!(write_block().is_ok()); // not in a simulation
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::sim::buggify_at(concat!(file!(), ":", line!()))
    };
}

/// A coverage probe: records whether `condition` held when reached. A simulation fails when a
/// probe it reached (or expects) never held across its seed set: a fault that never fires tests
/// nothing.
///
/// ```
/// let retried = true;
/// rig_testkit::sometimes!(retried, "client retried after an unknown outcome");
/// ```
#[macro_export]
macro_rules! sometimes {
    ($condition:expr, $name:expr) => {
        $crate::sim::probe($name, $condition)
    };
}
