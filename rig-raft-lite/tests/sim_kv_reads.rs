//! Linearizable key-value reads through `read_barrier` under the nemesis (power cycles,
//! isolation, one-way cuts): clients put through the leader and read by taking a barrier, then
//! reading the committed log through the barrier's version on the same node. Every history is
//! checked with rig-testkit's linearizability checker, and the log-level checker requires every
//! acknowledged put at its version on every node. Cheap seeds (in-process links, memory disks).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::Rand;
use rig_core::{Durability, Error, Log, Operation};
use rig_raft_lite::core::CommitMode;
use rig_raft_lite::RaftLog;
use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
use rig_testkit::check::log::{check_log, LogHistory};
use rig_testkit::check::recording::RecordingLog;
use rig_testkit::history::Completion;
use rig_testkit::sim::{SimCtx, Simulation};
use support::sim_group::{nemesis, SimGroup};

const KEYS: u64 = 3;

fn put_op(key: u64, value: u64) -> Operation {
    let mut data = key.to_le_bytes().to_vec();
    data.extend_from_slice(&value.to_le_bytes());
    Operation::new(value.to_string(), data)
}

fn entry_id(op: &Operation) -> u64 {
    op.method.parse().expect("numeric ids")
}

/// The value of `key` after applying `ops` in order.
fn value_of(ops: &[rig_core::LogPayload], key: u64) -> Option<u64> {
    ops.iter()
        .rfind(|p| p.op.data[..8] == key.to_le_bytes())
        .map(|p| u64::from_le_bytes(p.op.data[8..16].try_into().expect("8 bytes")))
}

async fn put(
    node: Arc<RaftLog>,
    kv: &KvHistory,
    log_h: &LogHistory,
    process: u64,
    key: u64,
    value: u64,
) {
    let id = kv.invoke(process, KvCall::Put(key, value));
    let log = RecordingLog::new(node, log_h.clone(), process, entry_id);
    let fut = log.append(vec![put_op(key, value)], Durability::Replicated);
    let completion = match tokio::time::timeout(Duration::from_secs(1), fut).await {
        Ok(Ok(_)) => {
            rig_testkit::sometimes!(true, "a put was acknowledged");
            Completion::Ok(KvReturn::Done)
        }
        Ok(Err(Error::NotLeader { .. })) => Completion::Fail("not the leader".into()),
        Ok(Err(e)) => Completion::Unknown(e.to_string()),
        Err(_) => Completion::Unknown("timed out".into()),
    };
    kv.complete(id, completion);
}

async fn get(node: Arc<RaftLog>, kv: &KvHistory, process: u64, key: u64, lease: bool) {
    let id = kv.invoke(process, KvCall::Get(key));
    let read = async {
        let served = node.lease_reads_served();
        let v = node.read_barrier().await?;
        if lease {
            rig_testkit::sometimes!(
                node.lease_reads_served() > served,
                "a read was served under the leader lease"
            );
        }
        let ops = node.read(1, v as usize).await?;
        if ops.len() as u64 != v {
            return Err(Error::Unavailable {
                reason: format!("read {} of {v}", ops.len()),
            });
        }
        Ok(value_of(&ops, key))
    };
    let completion = match tokio::time::timeout(Duration::from_secs(1), read).await {
        Ok(Ok(value)) => {
            rig_testkit::sometimes!(true, "a linearizable read was served");
            Completion::Ok(KvReturn::Value(value))
        }
        Ok(Err(e)) => {
            rig_testkit::sometimes!(
                matches!(e, Error::NotLeader { .. }),
                "a read barrier was refused"
            );
            Completion::Fail(e.to_string())
        }
        // A read changes nothing: one that never answered can be dropped.
        Err(_) => Completion::Fail("timed out".into()),
    };
    kv.complete(id, completion);
}

async fn client(
    group: Arc<SimGroup>,
    kv: KvHistory,
    log_h: LogHistory,
    process: u64,
    rand: rig_core::seams::SeededRand,
    until: tokio::time::Instant,
    lease: bool,
) {
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        let Some(node) = group.any_leader(&rand) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let key = rand.below(KEYS);
        if rand.below(2) == 0 {
            n += 1;
            put(node, &kv, &log_h, process, key, process * 1_000_000 + n).await;
        } else {
            get(node, &kv, process, key, lease).await;
        }
        tokio::time::sleep(Duration::from_millis(rand.below(10))).await;
    }
}

/// One seed: clients and the nemesis for 3 s of simulated time, then heal and check.
pub async fn run_kv(ctx: SimCtx, mode: CommitMode, lease: bool) {
    let group = Arc::new(SimGroup::start(3, mode, ctx.rand(), move |o| {
        o.config.lease_reads = lease;
    }));
    let (kv, log_h) = (KvHistory::new(), LogHistory::new());
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for process in 1..=3 {
        let (g, kv, log_h) = (group.clone(), kv.clone(), log_h.clone());
        tasks.push(tokio::spawn(client(
            g,
            kv,
            log_h,
            process,
            ctx.rand(),
            until,
            lease,
        )));
    }
    tasks.push(tokio::spawn(nemesis(group.clone(), ctx.rand(), 60, until)));
    for t in tasks {
        t.await.expect("task");
    }
    let (_, target) = group.converge(ctx.seed).await;
    for node in group.up() {
        while node.committed() < target {
            node.wait_committed(node.committed()).await.expect("tail");
        }
        let reader = RecordingLog::new(node.clone(), log_h.clone(), 100 + node.id(), entry_id);
        reader.read(1, usize::MAX).await.expect("read everything");
    }
    let anomalies = check_log(&log_h.ops());
    assert!(anomalies.is_empty(), "seed {}: {anomalies:?}", ctx.seed);
    match check_kv(&kv.ops(), 2_000_000) {
        Linearizable::No { key, ops } => {
            panic!("seed {}: key {key} is not linearizable: {ops:?}", ctx.seed)
        }
        Linearizable::Unknown => println!("seed {}: the checker ran out of budget", ctx.seed),
        Linearizable::Yes => rig_testkit::sometimes!(true, "a history was proven linearizable"),
    }
    group.shutdown().await;
}

#[test]
fn sim_kv_reads_through_read_index_are_linearizable() {
    Simulation::new(
        "rig-raft-lite",
        "sim_kv_reads_through_read_index_are_linearizable",
    )
    .seeds(40)
    .run(|ctx| run_kv(ctx, CommitMode::Strict, false));
}

#[test]
fn sim_kv_reads_through_the_leader_lease_are_linearizable() {
    Simulation::new(
        "rig-raft-lite",
        "sim_kv_reads_through_the_leader_lease_are_linearizable",
    )
    .seeds(30)
    .run(|ctx| run_kv(ctx, CommitMode::Volatile, true));
}
