//! What power cuts cost in each commit mode, under a swarm nemesis (each seed draws its own mix
//! of power cuts on random subsets of nodes, process crashes, isolation, one-way cuts and lossy
//! links). Clients append at two durabilities (`Applied`: committed; `Replicated`: durable on a
//! majority); after the faults stop, the group must converge, accept writes again, and every
//! node's log goes through the log checker.
//!
//! - Strict: no acknowledged op is ever lost, whatever loses power.
//! - Volatile: an op acknowledged at `Replicated` (the `durable` watermark) is never lost, with
//!   fewer than a majority without power at once or with a majority.
//! - Volatile: an op acknowledged at `Applied` (committed: received by a majority) can be lost,
//!   and across the seeds it is when a majority loses power at once (the documented cost of
//!   Volatile mode). Every anomaly the checker finds must be such a lost op.
//!
//! An `Applied` op can also be lost with fewer than a majority without power at once: when it
//! reached a bare majority (say the third node was down or cut off) and one of those loses
//! power before the background sync. The fewer-than-a-majority runs therefore assert only that
//! `Replicated` acks survive (`RIG_SEED=41` there loses `Applied` acks that way: one node's process
//! crashed, then a second lost power).

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::{Rand, SeededRand};
use rig_core::{Durability, Log, Operation};
use rig_raft_lite::core::CommitMode;
use rig_testkit::check::log::{check_log, LogAnomaly, LogHistory};
use rig_testkit::check::recording::RecordingLog;
use rig_testkit::sim::{FaultPlan, SimCtx, Simulation};
use support::sim_group::SimGroup;

const NODES: u64 = 3;
const MAJORITY: usize = 2;
const CLIENTS: u64 = 5;

fn entry_id(op: &Operation) -> u64 {
    op.method.parse().expect("numeric ids")
}

/// One id in four is appended at `Replicated`, the others at `Applied` (cheaper in Volatile
/// mode, where `Replicated` waits for the background sync).
fn durability_of(id: u64) -> Durability {
    if id % 4 == 1 {
        Durability::Replicated
    } else {
        Durability::Applied
    }
}

/// Whether the nemesis may leave a majority without power at the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cuts {
    FewerThanMajority,
    Any,
}

/// One seed's fault mix (swarm testing): rates per thousand nemesis steps, drawn from the
/// seed's [`FaultPlan`] plus the power cuts this test adds.
#[derive(Debug, Clone, Copy)]
struct Mix {
    power_one: u64,
    power_many: u64,
    process_crash: u64,
    partition: u64,
    loss_pct: u64,
}

impl Mix {
    fn draw(plan: FaultPlan, rand: &dyn Rand, cuts: Cuts) -> Self {
        let rate = |max: u64| {
            if rand.below(2) == 0 {
                0
            } else {
                1 + rand.below(max)
            }
        };
        Self {
            power_one: plan.crash_per_mille.min(150),
            // Majority cuts are what this test is about: every seed that allows them has some.
            power_many: if cuts == Cuts::Any {
                20 + rand.below(60)
            } else {
                0
            },
            process_crash: rate(100),
            partition: plan.partition_per_mille,
            loss_pct: plan.net_loss_pct,
        }
    }
}

/// The nodes without power (powered off and not booted since), and whether a majority ever
/// was at the same moment.
#[derive(Debug, Default)]
struct Power {
    off: Mutex<BTreeSet<u64>>,
    majority_was_off: AtomicBool,
}

impl Power {
    /// Cuts the power of `ids` at the same moment (nothing runs in between).
    async fn cut(&self, group: &SimGroup, ids: &[u64]) {
        for &id in ids {
            if group.is_up(id) {
                group.power_off(id).await;
                self.off.lock().unwrap().insert(id);
            }
        }
        if self.off.lock().unwrap().len() >= MAJORITY {
            self.majority_was_off.store(true, Ordering::SeqCst);
            rig_testkit::sometimes!(true, "a majority was without power at once");
        }
    }

    fn boot(&self, group: &SimGroup, id: u64) {
        group.boot(id);
        self.off.lock().unwrap().remove(&id);
    }

    /// Whether cutting `id` too would leave a majority without power.
    fn would_reach_majority(&self, id: u64) -> bool {
        let off = self.off.lock().unwrap();
        off.len() + usize::from(!off.contains(&id)) >= MAJORITY
    }
}

async fn client(
    group: Arc<SimGroup>,
    history: LogHistory,
    process: u64,
    rand: SeededRand,
    until: tokio::time::Instant,
) {
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        // Think time: the in-process links deliver instantly, so without it the clients would
        // keep the runtime busy and simulated time (hence the nemesis) would never advance.
        tokio::time::sleep(Duration::from_millis(1 + rand.below(5))).await;
        let Some(node) = group.any_leader(&rand) else {
            continue;
        };
        n += 1;
        let id = process * 1_000_000 + n;
        let log = RecordingLog::new(node, history.clone(), process, entry_id);
        let fut = log.append(vec![Operation::new(id.to_string(), "")], durability_of(id));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), fut).await {
            rig_testkit::sometimes!(
                durability_of(id) == Durability::Replicated,
                "a Replicated append was acknowledged"
            );
        }
    }
}

/// Every 50 ms of simulated time until `until`: maybe cut power (one node, or a majority at
/// once when `cuts` allows), crash a process (its disk keeps everything), boot a stopped node,
/// and change the links.
async fn nemesis(
    group: Arc<SimGroup>,
    power: Arc<Power>,
    mix: Mix,
    cuts: Cuts,
    rand: SeededRand,
    until: tokio::time::Instant,
) {
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let id = 1 + rand.below(NODES);
        let other = 1 + (id + rand.below(NODES - 1)) % NODES;
        if FaultPlan::roll(&rand, mix.power_many) {
            let all: Vec<u64> = (1..=NODES).collect();
            let ids: Vec<u64> = if rand.below(2) == 0 {
                all
            } else {
                all.into_iter().filter(|&n| n != id).collect()
            };
            power.cut(&group, &ids).await;
        } else if FaultPlan::roll(&rand, mix.power_one)
            && (cuts == Cuts::Any || !power.would_reach_majority(id))
        {
            power.cut(&group, &[id]).await;
        } else if FaultPlan::roll(&rand, mix.process_crash) {
            group.crash_process(id).await;
        } else if !group.is_up(id) && rand.below(3) == 0 {
            power.boot(&group, id);
        }
        if FaultPlan::roll(&rand, mix.partition) {
            match rand.below(2) {
                0 => group.router.isolate(id),
                _ => group.router.cut(id, other),
            }
        }
        if mix.loss_pct > 0 && rand.below(10) == 0 {
            let per_mille = mix.loss_pct * 10;
            group
                .router
                .lossy(id, other, per_mille, SeededRand::new(rand.next_u64()));
        }
        if rand.below(8) == 0 {
            group.router.heal();
        }
    }
}

/// Heals and boots everything, waits until every node holds the leader's committed log (an
/// idle leader must bring them up to date), and records every node's whole log in the history.
/// A node that applied entries the group later lost has stopped itself (Volatile only): it is
/// power-cycled, reloads its log and follows again; nothing else restarts a node.
async fn read_back(group: &SimGroup, history: &LogHistory, seed: u64) {
    let (_, target) = group.converge(seed).await;
    for id in 1..=NODES {
        let done = async {
            loop {
                let node = group
                    .up()
                    .into_iter()
                    .find(|n| n.id() == id)
                    .expect("booted");
                if node.read(node.first_version(), 0).await.is_err() {
                    group.power_off(id).await;
                    group.boot(id);
                    continue;
                }
                if node.committed() >= target {
                    let reader = RecordingLog::new(node, history.clone(), 100 + id, entry_id);
                    reader.read(1, usize::MAX).await.expect("read everything");
                    return;
                }
                let tail = node.wait_committed(node.committed());
                let _ = tokio::time::timeout(Duration::from_millis(100), tail).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), done)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: node {id} never caught up"));
    }
}

/// After the faults: the group accepts writes again (recorded, so the final reads check them).
async fn writes_succeed(group: &SimGroup, history: &LogHistory, seed: u64) {
    for n in 1..=5 {
        let id = 900 * 1_000_000 + 4 * n + 1;
        let written = async {
            loop {
                let (leader, _) = group.converge(seed).await;
                let log = RecordingLog::new(leader, history.clone(), 900, entry_id);
                let op = vec![Operation::new(id.to_string(), "")];
                if log.append(op, Durability::Replicated).await.is_ok() {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), written)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: no write succeeded after the faults"));
    }
}

/// One seed: 5 clients and the nemesis for 3 s of simulated time, then heal, write, read back
/// every node and check. Returns the anomalies and whether a majority was ever without power.
async fn run(ctx: &SimCtx, mode: CommitMode, cuts: Cuts) -> (Vec<LogAnomaly>, bool) {
    let mix = Mix::draw(ctx.plan(), &ctx.rand(), cuts);
    ctx.trace.record(&format!("{mix:?}"));
    let group = Arc::new(SimGroup::start(NODES, mode, ctx.rand(), |o| {
        o.sync_interval = Duration::from_millis(200);
    }));
    let history = LogHistory::new();
    let power = Arc::new(Power::default());
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for process in 1..=CLIENTS {
        let (g, h) = (group.clone(), history.clone());
        tasks.push(tokio::spawn(client(g, h, process, ctx.rand(), until)));
    }
    let (g, p) = (group.clone(), power.clone());
    tasks.push(tokio::spawn(nemesis(g, p, mix, cuts, ctx.rand(), until)));
    for t in tasks {
        t.await.expect("task");
    }
    // Read back before writing: the nodes must catch up with an idle leader too.
    read_back(&group, &history, ctx.seed).await;
    writes_succeed(&group, &history, ctx.seed).await;
    read_back(&group, &history, ctx.seed).await;
    group.shutdown().await;
    let anomalies = check_log(&history.ops());
    (anomalies, power.majority_was_off.load(Ordering::SeqCst))
}

/// The acknowledged ops lost, or the anomalies a lost op does not explain.
fn lost_acks(anomalies: &[LogAnomaly]) -> Result<BTreeSet<u64>, Vec<LogAnomaly>> {
    let lost: BTreeSet<u64> = anomalies
        .iter()
        .filter_map(|a| match a {
            LogAnomaly::LostAck { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    // An op appended after a lost one may get a version at or below the lost one's, and an op
    // acknowledged at a version below an earlier ack's (which the group lost for a while) may
    // be lost in turn.
    let unexplained: Vec<LogAnomaly> = anomalies
        .iter()
        .filter(|a| match a {
            LogAnomaly::LostAck { .. } => false,
            LogAnomaly::RealTimeOrder { earlier, later } => {
                !lost.contains(earlier) && !lost.contains(later)
            }
            _ => true,
        })
        .cloned()
        .collect();
    if unexplained.is_empty() {
        Ok(lost)
    } else {
        Err(unexplained)
    }
}

#[test]
fn sim_strict_mode_never_loses_an_acknowledged_op_under_power_cuts() {
    Simulation::new(
        "rig-raft-lite",
        "sim_strict_mode_never_loses_an_acknowledged_op_under_power_cuts",
    )
    .seeds(60)
    .run(|ctx| async move {
        let (anomalies, _) = run(&ctx, CommitMode::Strict, Cuts::Any).await;
        assert!(anomalies.is_empty(), "seed {}: {anomalies:?}", ctx.seed);
    });
}

/// Volatile mode: the acknowledged ops a run lost, all of them acknowledged at `Applied`
/// (committed, not yet durable on a majority); panics on anything else.
fn volatile_lost_acks(anomalies: &[LogAnomaly], seed: u64) -> BTreeSet<u64> {
    let lost = lost_acks(anomalies)
        .unwrap_or_else(|other| panic!("seed {seed}: not explained by a lost op: {other:?}"));
    for id in &lost {
        assert_eq!(
            durability_of(*id),
            Durability::Applied,
            "seed {seed}: op {id}, acknowledged as durable on a majority, was lost: {anomalies:?}"
        );
    }
    lost
}

#[test]
fn sim_volatile_mode_keeps_replicated_acks_while_fewer_than_a_majority_lose_power() {
    Simulation::new(
        "rig-raft-lite",
        "sim_volatile_mode_keeps_replicated_acks_while_fewer_than_a_majority_lose_power",
    )
    .seeds(30)
    .run(|ctx| async move {
        let (anomalies, majority) = run(&ctx, CommitMode::Volatile, Cuts::FewerThanMajority).await;
        assert!(!majority, "seed {}: the nemesis cut a majority", ctx.seed);
        volatile_lost_acks(&anomalies, ctx.seed);
    });
}

#[test]
fn sim_volatile_mode_loses_applied_acks_when_a_majority_loses_power() {
    let lost_somewhere = Arc::new(AtomicBool::new(false));
    let lost = lost_somewhere.clone();
    Simulation::new(
        "rig-raft-lite",
        "sim_volatile_mode_loses_applied_acks_when_a_majority_loses_power",
    )
    .seeds(30)
    .run(move |ctx| {
        let lost = lost.clone();
        async move {
            let (anomalies, majority) = run(&ctx, CommitMode::Volatile, Cuts::Any).await;
            if !volatile_lost_acks(&anomalies, ctx.seed).is_empty() && majority {
                lost.store(true, Ordering::SeqCst);
            }
        }
    });
    if std::env::var("RIG_SEED").is_err() {
        assert!(
            lost_somewhere.load(Ordering::SeqCst),
            "no seed showed Volatile mode losing an Applied ack when a majority lost power"
        );
    }
}
