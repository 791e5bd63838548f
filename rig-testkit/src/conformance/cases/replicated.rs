//! Cases for replicated logs (needs [`Capability::Replicated`]): a leader crash in the middle of
//! appends, a partition and its healing, duplicated and reordered messages, a wiped node
//! rejoining, and liveness once faults stop.
//!
//! Every case records its appends in a [`LogHistory`] (ambiguous outcomes included) and ends the
//! same way: once the faults stop, an append succeeds (liveness), the leader's log passes the log
//! checker (no acknowledged entry lost, no hole, duplicate or phantom, nothing definitely failed
//! visible), and every node converges to the leader's committed log without ever diverging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rig_core::{Log, LogPayload};
use tokio::task::JoinSet;

use super::recorded::{check_history, id_of, read_all_and_check, recorded_within};
use crate::check::log::{LogCall, LogHistory, LogReturn};
use crate::conformance::util::{lacks, ops};
use crate::conformance::{Capability, Cluster, LogFactory, Outcome};
use crate::history::Completion;

/// How long one append may take under faults before its outcome is recorded as unknown.
const APPEND_LIMIT: Duration = Duration::from_secs(15);
/// How long the group may take to elect or restart a writer, or for nodes to converge.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);

/// Starts the factory's cluster, panicking with context when it cannot.
async fn start<F: LogFactory>(factory: &F) -> Box<dyn Cluster> {
    factory
        .cluster()
        .await
        .expect("Replicated declared but cluster() is None")
        .unwrap_or_else(|e| panic!("start a cluster: {e}"))
}

/// A writer for the group, within [`RECOVERY_LIMIT`].
async fn writer(cluster: &dyn Cluster, what: &str) -> Arc<dyn Log> {
    match tokio::time::timeout(RECOVERY_LIMIT, cluster.writer()).await {
        Ok(Ok(log)) => log,
        Ok(Err(e)) => panic!("{what}: no writer: {e}"),
        Err(_) => panic!("{what}: no writer within {RECOVERY_LIMIT:?}"),
    }
}

/// Hands out distinct operation ids, so the checker can tell every entry apart.
#[derive(Debug, Default)]
struct Ids(AtomicU64);

impl Ids {
    fn next(&self) -> u64 {
        1 + self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// `count` acknowledged single-op appends in a row; every one must succeed.
async fn append_acked(log: &dyn Log, history: &LogHistory, ids: &Ids, count: u64, what: &str) {
    for _ in 0..count {
        let i = ids.next();
        if let Err(e) = recorded_within(log, history, 1, ops(i..i + 1), APPEND_LIMIT).await {
            panic!(
                "{}: {what}: append failed without any fault: {e}",
                log.name()
            );
        }
    }
}

/// Appenders running in the background, and how many of their appends were acknowledged.
struct Appenders {
    tasks: JoinSet<()>,
    acked: Arc<AtomicU64>,
}

impl Appenders {
    /// Spawns `processes` appenders of `each` single ops, every append bounded by
    /// [`APPEND_LIMIT`].
    fn spawn(
        log: &Arc<dyn Log>,
        history: &LogHistory,
        ids: &Arc<Ids>,
        processes: u64,
        each: u64,
    ) -> Self {
        let acked = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for p in 0..processes {
            let (log, history, ids) = (Arc::clone(log), history.clone(), Arc::clone(ids));
            let acked = Arc::clone(&acked);
            tasks.spawn(async move {
                for _ in 0..each {
                    let i = ids.next();
                    let batch = ops(i..i + 1);
                    if recorded_within(&*log, &history, 10 + p, batch, APPEND_LIMIT)
                        .await
                        .is_ok()
                    {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        Self { tasks, acked }
    }

    /// Waits until at least `n` appends were acknowledged (or every appender finished), so a
    /// fault lands in the middle of the load rather than before or after it.
    async fn wait_acked(&mut self, n: u64) {
        while self.acked.load(Ordering::SeqCst) < n && !self.tasks.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                done = self.tasks.join_next() => {
                    done.expect("a running set").expect("an appender task panicked");
                }
            }
        }
    }

    /// Waits for every appender and returns the number of acknowledged appends.
    async fn join(mut self) -> u64 {
        while let Some(done) = self.tasks.join_next().await {
            done.expect("an appender task panicked");
        }
        self.acked.load(Ordering::SeqCst)
    }
}

/// Retries single appends on fresh writers until one is acknowledged (liveness), within
/// [`RECOVERY_LIMIT`]; every attempt is recorded.
async fn append_eventually(cluster: &dyn Cluster, history: &LogHistory, ids: &Ids, what: &str) {
    let deadline = tokio::time::Instant::now() + RECOVERY_LIMIT;
    let mut last_error = String::new();
    while tokio::time::Instant::now() < deadline {
        let log = writer(cluster, what).await;
        let i = ids.next();
        match recorded_within(&*log, history, 2, ops(i..i + 1), APPEND_LIMIT).await {
            Ok(_) => return,
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: no append succeeded within {RECOVERY_LIMIT:?} after the faults stopped (last error: {last_error})");
}

/// The liveness and safety ending every case shares: an append succeeds, the leader's log passes
/// the checker, and every node converges to it, never holding a different entry at a version.
async fn recover_and_check(cluster: &dyn Cluster, history: &LogHistory, ids: &Ids, what: &str) {
    cluster.heal().await;
    append_eventually(cluster, history, ids, what).await;
    let log = writer(cluster, what).await;
    let name = log.name();
    let leader = read_all_and_check(&*log, history, what).await;
    let deadline = tokio::time::Instant::now() + RECOVERY_LIMIT;
    for node in 0..cluster.size() {
        loop {
            let held = match cluster.node_entries(node).await {
                Ok(held) => held,
                Err(e) => panic!("{name}: {what}: read node {node}: {e}"),
            };
            record_node_read(history, node, &held);
            for entry in &held {
                let Some(ours) = leader.get((entry.version - 1) as usize) else {
                    break; // the leader committed more since; checked by the history
                };
                assert_eq!(
                    ours.op, entry.op,
                    "{name}: {what}: node {node} diverges from the leader at version {}",
                    entry.version
                );
            }
            if held.len() >= leader.len() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: {what}: node {node} holds {} of the leader's {} entries after {RECOVERY_LIMIT:?}",
                held.len(),
                leader.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The nodes' reads are in the history too: no two readers saw different entries.
    check_history(name, history, what);
    cluster.shutdown().await;
}

/// Records what one node holds as a read, so the checker also compares nodes with each other.
fn record_node_read(history: &LogHistory, node: usize, held: &[LogPayload]) {
    let first = held.first().map_or(1, |e| e.version);
    let op = history.invoke(100 + node as u64, LogCall::Read { from: first });
    let entries = held.iter().map(|e| (e.version, id_of(&e.op))).collect();
    let to_end = false;
    history.complete(op, Completion::Ok(LogReturn::Read { entries, to_end }));
}

/// The leader (primary) is killed while appends are in flight and then restarted: every append
/// resolves (none hangs), every acknowledged entry survives, and the group takes writes again.
pub async fn leader_crash_mid_append<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Replicated) {
        return na;
    }
    let cluster = start(&factory).await;
    let (history, ids) = (LogHistory::new(), Arc::new(Ids::default()));
    let log = writer(&*cluster, "at start").await;
    append_acked(&*log, &history, &ids, 10, "before the crash").await;
    let leader = cluster.leader().await;
    let mut appenders = Appenders::spawn(&log, &history, &ids, 4, 25);
    // Crash once some appends were acknowledged, with others in flight.
    appenders.wait_acked(12).await;
    cluster.crash(leader).await;
    drop(log);
    let acked = appenders.join().await;
    println!("leader_crash_mid_append: {acked} of 100 appends were acknowledged around the crash");
    assert!(
        acked < 100,
        "the crash came after the load: the case tested nothing"
    );
    if let Err(e) = cluster.restart(leader).await {
        panic!("restart the crashed leader {leader}: {e}");
    }
    recover_and_check(&*cluster, &history, &ids, "after a leader crash mid-append").await;
    Outcome::Passed
}

/// The leader is cut off from every other node while appends are in flight, then the partition
/// heals: nothing is acknowledged that the healed group does not keep, and it takes writes again.
pub async fn partition_and_heal<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Replicated) {
        return na;
    }
    let cluster = start(&factory).await;
    let (history, ids) = (LogHistory::new(), Arc::new(Ids::default()));
    let log = writer(&*cluster, "at start").await;
    append_acked(&*log, &history, &ids, 10, "before the partition").await;
    cluster.isolate(cluster.leader().await).await;
    let acked = Appenders::spawn(&log, &history, &ids, 4, 2).join().await;
    println!("partition_and_heal: {acked} of 8 appends to the isolated leader were acknowledged");
    drop(log);
    recover_and_check(&*cluster, &history, &ids, "after a partition healed").await;
    Outcome::Passed
}

/// Messages between nodes are duplicated and reordered (see [`Cluster::disturb`]) while clients
/// append: no entry is applied twice or out of place, nothing acknowledged is lost.
pub async fn duplicated_and_reordered_messages<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Replicated) {
        return na;
    }
    let cluster = start(&factory).await;
    let (history, ids) = (LogHistory::new(), Arc::new(Ids::default()));
    let log = writer(&*cluster, "at start").await;
    append_acked(&*log, &history, &ids, 5, "before the disturbance").await;
    cluster.disturb(0xD15_7A4B).await;
    let mut appenders = Appenders::spawn(&log, &history, &ids, 4, 50);
    appenders.wait_acked(5).await;
    // Keep the disturbance on for a while whatever the append rate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acked = appenders.join().await;
    println!(
        "duplicated_and_reordered_messages: {acked} of 200 appends acknowledged while disturbed"
    );
    drop(log);
    recover_and_check(
        &*cluster,
        &history,
        &ids,
        "after duplicated and reordered messages",
    )
    .await;
    Outcome::Passed
}

/// A follower (replica) loses its disk and comes back empty: it catches up with everything the
/// group committed, and the group keeps every acknowledged entry.
pub async fn wiped_node_rejoins<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Replicated) {
        return na;
    }
    let cluster = start(&factory).await;
    let (history, ids) = (LogHistory::new(), Arc::new(Ids::default()));
    let log = writer(&*cluster, "at start").await;
    append_acked(&*log, &history, &ids, 20, "before the wipe").await;
    let follower = (cluster.leader().await + 1) % cluster.size();
    cluster.wipe(follower).await;
    if let Err(e) = cluster.restart(follower).await {
        panic!("restart wiped node {follower}: {e}");
    }
    drop(log);
    append_eventually(&*cluster, &history, &ids, "after the wipe").await;
    recover_and_check(&*cluster, &history, &ids, "after a wiped node rejoined").await;
    Outcome::Passed
}

/// A seeded run of mixed faults (leader and follower crashes, partitions, disturbed links)
/// under load; once they stop, the group must take writes and every node must converge.
pub async fn liveness_after_faults_stop<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Replicated) {
        return na;
    }
    let cluster = start(&factory).await;
    let (history, ids) = (LogHistory::new(), Arc::new(Ids::default()));
    let mut seed = 0x5EED_u64;
    let mut acked = 0;
    for round in 0..6u64 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let Ok(Ok(log)) = tokio::time::timeout(RECOVERY_LIMIT, cluster.writer()).await else {
            continue; // no writer this round: the next fault may bring one back
        };
        let leader = cluster.leader().await;
        let other = (leader + 1 + (seed >> 33) as usize % (cluster.size() - 1)) % cluster.size();
        let fault = [
            "crash the leader",
            "isolate the leader",
            "disturb",
            "crash a follower",
        ][((seed >> 40) % 4) as usize];
        println!("liveness_after_faults_stop: round {round}: {fault}");
        match (seed >> 40) % 4 {
            0 => {
                cluster.crash(leader).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Err(e) = cluster.restart(leader).await {
                    panic!("round {round}: restart the crashed leader {leader}: {e}");
                }
            }
            1 => cluster.isolate(leader).await,
            2 => cluster.disturb(seed ^ round).await,
            _ => {
                cluster.crash(other).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Err(e) = cluster.restart(other).await {
                    panic!("round {round}: restart the crashed node {other}: {e}");
                }
            }
        }
        // Load on the writer from before the fault, during the fault and after it heals.
        let appenders = Appenders::spawn(&log, &history, &ids, 2, 10);
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.heal().await;
        acked += appenders.join().await;
    }
    println!("liveness_after_faults_stop: {acked} of 120 appends acknowledged under faults");
    recover_and_check(&*cluster, &history, &ids, "once the faults stopped").await;
    Outcome::Passed
}
