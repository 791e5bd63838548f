//! The engine over `OneFileLog` on a `SimFs` under simulation: crashes that drop or tear
//! unsynced writes, failed fsyncs (the log poisons and a supervisor restarts the node) and a full
//! disk; then a liveness phase without faults; then the log and linearizability checkers.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::engine_sim::{run_clients, World};
use common::file_log::OneFileLog;
use common::kv::Kv;
use rig_core::seams::{Rand, SeededRand};
use rig_core::Rig;
use rig_testkit::sim::{FaultPlan, SimCtx, Simulation};
use rig_testkit::simfs::{SimFs, SimFsController};
use rig_testkit::sometimes;

struct Node {
    world: World<OneFileLog>,
    fs: SimFs,
    disk: SimFsController,
    log: Mutex<Arc<OneFileLog>>,
}

/// Starts the process: opens the log and the engine. A start-up that hits an injected disk
/// fault crashes and is retried, as a supervisor would.
async fn open(fs: &SimFs, disk: &SimFsController) -> (Arc<OneFileLog>, Rig<Kv, Arc<OneFileLog>>) {
    for _ in 0..50 {
        let Ok(log) = OneFileLog::open(Arc::new(fs.clone()), Path::new("/data")) else {
            disk.crash();
            continue;
        };
        let log = Arc::new(log);
        match Rig::open(Kv::default(), Arc::clone(&log)).await {
            Ok(rig) => return (log, rig),
            Err(_) => disk.crash(),
        }
    }
    panic!("the node did not start in 50 attempts");
}

impl Node {
    fn log(&self) -> Arc<OneFileLog> {
        Arc::clone(&self.log.lock().unwrap())
    }

    /// The machine crashes (unsynced writes kept, dropped or torn) and the process restarts.
    async fn crash_and_restart(&self) {
        self.disk.crash();
        let (log, rig) = open(&self.fs, &self.disk).await;
        *self.world.rig.lock().unwrap() = rig;
        *self.log.lock().unwrap() = log;
        self.world.ctx.trace.record(&("crash", self.disk.stats()));
    }
}

async fn nemesis(node: Arc<Node>, plan: FaultPlan, rand: SeededRand, stop: Arc<AtomicBool>) {
    node.disk.set_sync_failure_rate(plan.sync_fail_per_million);
    let mut full = false;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1 + rand.below(8))).await;
        if node.log().is_poisoned() {
            // A supervisor restarts a process whose log stopped after a failed fsync.
            sometimes!(true, "a failed fsync poisoned the log");
            node.crash_and_restart().await;
        } else if FaultPlan::roll(&rand, plan.crash_per_mille) {
            sometimes!(node.world.in_flight(), "crash with operations in flight");
            node.crash_and_restart().await;
        } else if plan.disk_full && FaultPlan::roll(&rand, 100) {
            full = !full;
            node.disk.set_space_left(full.then(|| rand.below(2048)));
            node.world.ctx.trace.record(&("disk full", full));
        }
    }
    node.disk.heal();
}

async fn scenario(ctx: SimCtx) {
    let (fs, disk) = SimFs::with_rand(ctx.rand());
    let (log, rig) = open(&fs, &disk).await;
    let node = Arc::new(Node {
        world: World::new(ctx.clone(), rig),
        fs,
        disk,
        log: Mutex::new(log),
    });
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
    node.crash_and_restart().await;
    node.world.converge().await;
    let stats = node.disk.stats();
    sometimes!(stats.torn_writes > 0, "a crash tore an unsynced write");
    sometimes!(
        stats.dropped_writes > 0,
        "a crash dropped an unsynced write"
    );
    sometimes!(stats.disk_full_errors > 0, "the disk was full");
    node.world.check(&node.log()).await;
}

#[test]
fn file_engine_survives_crashes_and_disk_faults() {
    // Wall time only for the printed speed figure (no assertion depends on it).
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let report = Simulation::new(
        "rig-testkit",
        "file_engine_survives_crashes_and_disk_faults",
    )
    .seeds(100)
    .expect_probes(&[
        "crash with operations in flight",
        "a failed fsync poisoned the log",
    ])
    .run(scenario);
    let wall = started.elapsed();
    println!(
        "simulated {:?} in {wall:?} wall: {:.0}x real time",
        report.simulated,
        report.simulated.as_secs_f64() / wall.as_secs_f64()
    );
}
