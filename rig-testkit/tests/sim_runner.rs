//! The simulation runner's own guarantees: coverage probes are enforced, failures propagate,
//! buggify only fires inside a simulation, and paused time makes long sleeps free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rig_testkit::sim::Simulation;
use rig_testkit::{buggify, sometimes};

#[test]
#[should_panic(expected = "coverage probes never fired")]
fn a_probe_that_never_fires_fails_the_simulation() {
    Simulation::new(
        "rig-testkit",
        "a_probe_that_never_fires_fails_the_simulation",
    )
    .fixed_seeds(&[0, 1, 2, 3, 4])
    .run(|_ctx| async { sometimes!(false, "never true") });
}

#[test]
#[should_panic(expected = "coverage probes never fired")]
fn an_expected_probe_that_is_never_reached_fails_the_simulation() {
    Simulation::new(
        "rig-testkit",
        "an_expected_probe_that_is_never_reached_fails",
    )
    .fixed_seeds(&[0, 1])
    .expect_probes(&["unreachable probe"])
    .run(|_ctx| async {});
}

#[test]
#[should_panic(expected = "broken at seed 3")]
fn a_failing_seed_fails_the_test() {
    Simulation::new("rig-testkit", "a_failing_seed_fails_the_test")
        .fixed_seeds(&(0..10).collect::<Vec<_>>())
        .run(|ctx| async move { assert_ne!(ctx.seed, 3, "broken at seed {}", ctx.seed) });
}

#[test]
fn buggify_fires_only_inside_a_simulation() {
    assert!(
        (0..1000).all(|_| !buggify!()),
        "buggify fired outside a simulation"
    );
    let fired = AtomicU64::new(0);
    Simulation::new("rig-testkit", "buggify_fires_only_inside_a_simulation")
        .fixed_seeds(&(0..40).collect::<Vec<_>>())
        .run(|_ctx| async {
            for _ in 0..100 {
                if buggify!() {
                    fired.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    let fired = fired.load(Ordering::Relaxed);
    // A site is active in about a quarter of the runs and then fires about a quarter of the time.
    assert!(fired > 0 && fired < 40 * 100 / 2, "fired {fired} times");
}

#[test]
fn paused_time_makes_sleeps_free_and_counts_them() {
    let report = Simulation::new("rig-testkit", "paused_time_makes_sleeps_free")
        .fixed_seeds(&[0, 1, 2])
        .run(|_ctx| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
    assert_eq!(report.runs.len(), 3);
    assert!(report.simulated >= Duration::from_secs(3 * 3600));
}

/// Backend code depends on rig-core only: its `rig_core::buggify!` fault points are decided by
/// the runner too, only while a seed runs, and count as coverage probes.
#[test]
fn rig_core_buggify_is_decided_by_the_runner() {
    fn backend_fault_point() -> bool {
        rig_core::buggify!()
    }
    assert!((0..1000).all(|_| !backend_fault_point()));
    let fired = AtomicU64::new(0);
    let run = || {
        Simulation::new("rig-testkit", "rig_core_buggify_is_decided_by_the_runner")
            .fixed_seeds(&(0..40).collect::<Vec<_>>())
            .run(|ctx| {
                let fired = &fired;
                async move {
                    for _ in 0..100 {
                        let hit = backend_fault_point();
                        fired.fetch_add(u64::from(hit), Ordering::Relaxed);
                        ctx.trace.record(&hit);
                    }
                }
            })
    };
    let first = run();
    assert_eq!(first, run(), "the same seeds decide the same faults");
    let fired = fired.load(Ordering::Relaxed) / 2;
    assert!(fired > 0 && fired < 40 * 100 / 2, "fired {fired} times");
    assert!(!backend_fault_point(), "still installed after the run");
}
