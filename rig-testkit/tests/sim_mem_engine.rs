//! A MemLog-backed engine under simulation: clients put and get while a nemesis crashes the
//! node, makes appends ambiguous or unavailable and stalls acknowledgments; then a liveness
//! phase without faults; then the log checker and the linearizability checker.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::engine_sim::{run_clients, World};
use common::kv::Kv;
use rig_core::seams::{Rand, SeededRand};
use rig_core::{Error, Log, MemLog, Rig};
use rig_testkit::sim::{FaultPlan, SimCtx, Simulation};
use rig_testkit::sometimes;

/// The node: the log handle its current engine uses.
struct Node {
    world: World<MemLog>,
    log: Mutex<Arc<MemLog>>,
}

impl Node {
    fn log(&self) -> Arc<MemLog> {
        Arc::clone(&self.log.lock().unwrap())
    }

    /// Kills the engine's log handle (the old engine can no longer write) and opens a new engine
    /// over the same entries, as a restarted process would.
    async fn crash_and_restart(&self) {
        let old = self.log();
        old.close().await.unwrap();
        let log = Arc::new(old.reopen());
        let rig = Rig::open(Kv::default(), Arc::clone(&log))
            .await
            .expect("recovery");
        *self.world.rig.lock().unwrap() = rig;
        *self.log.lock().unwrap() = log;
        self.world.ctx.trace.record(&"crash");
    }
}

/// Injects the seed's faults until `stop` is set.
async fn nemesis(node: Arc<Node>, plan: FaultPlan, rand: SeededRand, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1 + rand.below(8))).await;
        let log = node.log();
        let trace = &node.world.ctx.trace;
        if FaultPlan::roll(&rand, plan.crash_per_mille) {
            sometimes!(node.world.in_flight(), "crash with operations in flight");
            node.crash_and_restart().await;
        } else if FaultPlan::roll(&rand, plan.ambiguous_per_mille) {
            let written = rand.below(2) == 0;
            let reason = "injected ambiguous append".to_string();
            log.fail_next_append(Error::OutcomeUnknown { reason }, written);
            sometimes!(written, "an ambiguous append landed");
            trace.record(&("ambiguous", written));
        } else if FaultPlan::roll(&rand, plan.unavailable_per_mille) {
            log.fail_next_append(
                Error::Unavailable {
                    reason: "injected".into(),
                },
                false,
            );
            trace.record(&"unavailable");
        } else if FaultPlan::roll(&rand, plan.stall_per_mille) {
            log.pause_acks(true);
            tokio::time::sleep(Duration::from_millis(1 + rand.below(20))).await;
            log.pause_acks(false);
            trace.record(&"stall");
        }
    }
}

async fn scenario(ctx: SimCtx) {
    let log = Arc::new(MemLog::new());
    let rig = Rig::open(Kv::default(), Arc::clone(&log)).await.unwrap();
    let node = Arc::new(Node {
        world: World::new(ctx.clone(), rig),
        log: Mutex::new(log),
    });
    // Safety phase: clients and the nemesis.
    let stop = Arc::new(AtomicBool::new(false));
    let nem = tokio::spawn(nemesis(
        Arc::clone(&node),
        ctx.plan(),
        ctx.rand(),
        Arc::clone(&stop),
    ));
    run_clients(&node.world).await;
    stop.store(true, Ordering::Relaxed);
    nem.await.expect("nemesis panicked");
    // Liveness phase: no faults, a restart, then every client must get a write through.
    node.crash_and_restart().await;
    node.world.converge().await;
    node.world.check(&node.log()).await;
}

#[test]
fn mem_engine_survives_crashes_and_ambiguous_appends() {
    Simulation::new(
        "rig-testkit",
        "mem_engine_survives_crashes_and_ambiguous_appends",
    )
    .seeds(250)
    .expect_probes(&[
        "crash with operations in flight",
        "an ambiguous append landed",
    ])
    .run(scenario);
}

#[test]
fn same_seed_gives_the_same_trace() {
    let sim = Simulation::new("rig-testkit", "same_seed_gives_the_same_trace")
        .fixed_seeds(&[17, 17, 18])
        .without_coverage();
    let report = sim.run(scenario);
    assert_eq!(
        report.runs[0], report.runs[1],
        "one seed, two different runs"
    );
    assert_ne!(
        report.runs[0].1, report.runs[2].1,
        "the trace does not depend on the seed"
    );
}
