//! A MemLog-backed engine under simulation: clients put and get while a nemesis crashes the
//! node, makes appends ambiguous or unavailable and stalls acknowledgments; then a liveness
//! phase without faults; then the log checker and the linearizability checker.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::kv::{decode, put, Kv};
use rig_core::seams::{Rand, SeededRand};
use rig_core::{Error, Log, MemLog, Rig};
use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
use rig_testkit::check::log::{check_log, LogCall, LogHistory, LogReturn};
use rig_testkit::history::Completion;
use rig_testkit::sim::{FaultPlan, SimCtx, Simulation};
use rig_testkit::{buggify, sometimes};

const CLIENTS: u64 = 4;
const OPS_PER_CLIENT: u64 = 25;
const KEYS: u64 = 4;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

/// The node: the log handle its engine uses, and the engine.
struct Node {
    log: MemLog,
    rig: Rig<Kv, MemLog>,
}

#[derive(Clone)]
struct World {
    ctx: SimCtx,
    node: Arc<Mutex<Node>>,
    kv: KvHistory,
    log: LogHistory,
}

impl World {
    fn rig(&self) -> Rig<Kv, MemLog> {
        self.node.lock().unwrap().rig.clone()
    }

    /// Kills the engine's log handle (the old engine can no longer write) and opens a new engine
    /// over the same entries, as a restarted process would.
    async fn crash_and_restart(&self) {
        let old = self.node.lock().unwrap().log.clone();
        old.close().await.unwrap();
        let log = old.reopen();
        let rig = Rig::open(Kv::default(), log.clone())
            .await
            .expect("recovery after a crash");
        *self.node.lock().unwrap() = Node { log, rig };
        self.ctx.trace.record(&"crash");
    }
}

fn classify(e: &Error) -> Completion<()> {
    match e {
        Error::Rejected(_) | Error::Unavailable { .. } | Error::NotLeader { .. } => {
            Completion::Fail(e.to_string())
        }
        _ => Completion::Unknown(e.to_string()),
    }
}

async fn client(w: World, id: u64, rand: SeededRand) {
    for i in 0..OPS_PER_CLIENT {
        let key = rand.below(KEYS);
        if rand.below(10) < 3 {
            let op = w.kv.invoke(id, KvCall::Get(key));
            let value = w.rig().state().await.map.get(&key).copied();
            w.kv.complete(op, Completion::Ok(KvReturn::Value(value)));
            w.ctx.trace.record(&("get", id, key, value));
        } else {
            let value = id * 1000 + i + 1;
            let kv_op = w.kv.invoke(id, KvCall::Put(key, value));
            let log_op = w.log.invoke(id, LogCall::Append(vec![value]));
            // Clients give up after a while, like real ones: the outcome is then unknown.
            let result = tokio::time::timeout(CLIENT_TIMEOUT, w.rig().execute(put(key, value)))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::OutcomeUnknown {
                        reason: "client timeout".into(),
                    })
                });
            w.ctx.trace.record(&(
                "put",
                id,
                key,
                value,
                result.as_ref().map(|d| d.version).ok(),
            ));
            match result {
                Ok(done) => {
                    w.kv.complete(kv_op, Completion::Ok(KvReturn::Done));
                    w.log
                        .complete(log_op, Completion::Ok(LogReturn::Appended(done.version)));
                }
                Err(e) => {
                    sometimes!(matches!(e, Error::Rejected(_)), "a put was rejected");
                    sometimes!(
                        matches!(e, Error::OutcomeUnknown { .. }),
                        "a put's outcome was unknown"
                    );
                    sometimes!(matches!(e, Error::Unavailable { .. }), "a put was refused");
                    let c = classify(&e);
                    let kv_c = match &c {
                        Completion::Fail(s) => Completion::Fail(s.clone()),
                        _ => Completion::Unknown(e.to_string()),
                    };
                    w.kv.complete(kv_op, kv_c);
                    w.log.complete(log_op, c.map_ok());
                }
            }
        }
        if !buggify!() {
            tokio::time::sleep(Duration::from_millis(1 + rand.below(5))).await;
        }
    }
}

trait MapOk {
    fn map_ok(self) -> Completion<LogReturn>;
}

impl MapOk for Completion<()> {
    fn map_ok(self) -> Completion<LogReturn> {
        match self {
            Completion::Ok(()) => unreachable!("errors only"),
            Completion::Fail(s) => Completion::Fail(s),
            Completion::Unknown(s) => Completion::Unknown(s),
        }
    }
}

/// Injects the seed's faults until `stop` is set.
async fn nemesis(w: World, plan: FaultPlan, rand: SeededRand, stop: Arc<Mutex<bool>>) {
    while !*stop.lock().unwrap() {
        tokio::time::sleep(Duration::from_millis(1 + rand.below(8))).await;
        let log = w.node.lock().unwrap().log.clone();
        if FaultPlan::roll(&rand, plan.crash_per_mille) {
            let in_flight = w.kv.ops().iter().filter(|o| o.completed.is_none()).count();
            sometimes!(in_flight > 0, "crash with operations in flight");
            w.crash_and_restart().await;
        } else if FaultPlan::roll(&rand, plan.ambiguous_per_mille) {
            let written = rand.below(2) == 0;
            let reason = "injected ambiguous append".to_string();
            log.fail_next_append(Error::OutcomeUnknown { reason }, written);
            w.ctx.trace.record(&("ambiguous", written));
        } else if FaultPlan::roll(&rand, plan.unavailable_per_mille) {
            log.fail_next_append(
                Error::Unavailable {
                    reason: "injected".into(),
                },
                false,
            );
            w.ctx.trace.record(&"unavailable");
        } else if FaultPlan::roll(&rand, plan.stall_per_mille) {
            log.pause_acks(true);
            tokio::time::sleep(Duration::from_millis(1 + rand.below(20))).await;
            log.pause_acks(false);
            w.ctx.trace.record(&"stall");
        }
    }
}

async fn scenario(ctx: SimCtx) {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    let w = World {
        ctx: ctx.clone(),
        node: Arc::new(Mutex::new(Node { log, rig })),
        kv: KvHistory::new(),
        log: LogHistory::new(),
    };
    // Safety phase: clients and the nemesis.
    let stop = Arc::new(Mutex::new(false));
    let nem = tokio::spawn(nemesis(
        w.clone(),
        ctx.plan(),
        ctx.rand(),
        Arc::clone(&stop),
    ));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(w.clone(), c + 1, ctx.rand())))
        .collect();
    for c in clients {
        c.await.expect("client panicked");
    }
    *stop.lock().unwrap() = true;
    nem.await.expect("nemesis panicked");
    // Liveness phase: no faults. After a restart, one put absorbs any failure the nemesis left
    // armed; then every client's write must succeed.
    w.node.lock().unwrap().log.pause_acks(false);
    w.crash_and_restart().await;
    let drain = w.log.invoke(0, LogCall::Append(vec![1]));
    let kv_drain = w.kv.invoke(0, KvCall::Put(0, 1));
    match w.rig().execute(put(0, 1)).await {
        Ok(done) => {
            w.log
                .complete(drain, Completion::Ok(LogReturn::Appended(done.version)));
            w.kv.complete(kv_drain, Completion::Ok(KvReturn::Done));
        }
        Err(e) => {
            w.log.complete(drain, classify(&e).map_ok());
            w.kv.complete(kv_drain, Completion::Unknown(e.to_string()));
        }
    }
    for c in 1..=CLIENTS {
        let value = c * 1000 + 999;
        let op = w.log.invoke(c, LogCall::Append(vec![value]));
        let kv_op = w.kv.invoke(c, KvCall::Put(c % KEYS, value));
        let done = w
            .rig()
            .execute(put(c % KEYS, value))
            .await
            .expect("liveness: a write succeeds");
        w.log
            .complete(op, Completion::Ok(LogReturn::Appended(done.version)));
        w.kv.complete(kv_op, Completion::Ok(KvReturn::Done));
    }
    check(&w).await;
}

async fn check(w: &World) {
    let log = w.node.lock().unwrap().log.clone();
    let read = w.log.invoke(0, LogCall::Read { from: 1 });
    let entries = log.read(1, usize::MAX).await.unwrap();
    let ids: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| (e.version, decode(&e.op).1))
        .collect();
    w.ctx.trace.record(&ids);
    w.log.complete(
        read,
        Completion::Ok(LogReturn::Read {
            entries: ids,
            to_end: true,
        }),
    );
    let anomalies = check_log(&w.log.ops());
    assert!(anomalies.is_empty(), "log anomalies: {anomalies:?}");
    let verdict = check_kv(&w.kv.ops(), 5_000_000);
    assert_eq!(
        verdict,
        Linearizable::Yes,
        "key-value history is not linearizable"
    );
}

#[test]
fn mem_engine_survives_crashes_and_ambiguous_appends() {
    Simulation::new(
        "rig-testkit",
        "mem_engine_survives_crashes_and_ambiguous_appends",
    )
    .seeds(250)
    .expect_probes(&["crash with operations in flight"])
    .run(scenario);
}

#[test]
fn same_seed_gives_the_same_trace() {
    let sim =
        Simulation::new("rig-testkit", "same_seed_gives_the_same_trace").fixed_seeds(&[17, 17, 18]);
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
