//! A crash of the primary at each of the five stages of a round, and of the replica at each of
//! its steps, then a restart (or a promotion) and a sync: no acknowledged op is lost and the
//! replica's committed log equals the primary's committed prefix.
//!
//! A crash is in process: the node stops dead at a crash point (`crash.rs`) and is halted (every
//! task aborted, nothing flushed), then reopened from its directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::{Durability, Error, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

use crate::crash::Stage;
use crate::{Config, Policy, ReplLog, StartAs};

/// Long enough for a halted replica to come back within a round.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A guard against a crash point never being reached (a hang would say less).
const REACH: Duration = Duration::from_secs(30);

/// The primary's crash points; `None` is a crash right after the acknowledgment.
const PRIMARY_STAGES: [Option<Stage>; 6] = [
    Some(Stage::PrepareLocal),
    Some(Stage::PrepareReplica),
    Some(Stage::CommitLocal),
    Some(Stage::CommitReplica),
    Some(Stage::Acknowledge),
    None,
];

const REPLICA_STAGES: [Stage; 4] = [
    Stage::ReplicaPrepare,
    Stage::ReplicaPrepared,
    Stage::ReplicaCommit,
    Stage::ReplicaCommitted,
];

fn hs(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("crash-test", [1, 2], node, b"psk".to_vec())
}

/// Small segments: reopening a log with the default 64 MiB ones takes seconds.
fn file(dir: &Path) -> FileLog {
    let opts = FileLogOptions {
        segment_size: 1 << 20,
        ..Default::default()
    };
    FileLog::open(dir, opts).unwrap()
}

async fn replica(dir: &Path, listen: &str) -> ReplLog {
    let config = Config::new(listen, StartAs::Replica, hs("r"));
    ReplLog::open(file(dir), config).await.unwrap()
}

async fn primary(dir: &Path, replica: &str) -> ReplLog {
    let to = vec![replica.to_string()];
    let mut config = Config::new("127.0.0.1:0", StartAs::Primary { replicas: to }, hs("p"));
    config.policy = Policy::Strict { timeout: TIMEOUT };
    ReplLog::open(file(dir), config).await.unwrap()
}

fn op(data: String) -> Vec<Operation> {
    vec![Operation::new("put", data)]
}

/// Acknowledged ops: version and data.
type Acked = Vec<(u64, String)>;

async fn append(log: &ReplLog, data: &str, acked: &mut Acked) {
    let v = log
        .append(op(data.into()), Durability::Replicated)
        .await
        .unwrap();
    acked.push((v, data.into()));
}

/// Appends until one op is acknowledged (transient failures while a node comes back are fine;
/// a false ack is what the checks look for); returns its version.
async fn append_until_acked(log: &ReplLog, data: &str, acked: &mut Acked) -> u64 {
    loop {
        match log.append(op(data.into()), Durability::Replicated).await {
            Ok(v) => {
                acked.push((v, data.into()));
                return v;
            }
            Err(e) => assert!(!e.is_fatal(), "{e:?}"),
        }
    }
}

async fn committed(log: &ReplLog, through: u64) -> Vec<String> {
    while log.committed() < through {
        log.wait_committed(log.committed()).await.unwrap();
    }
    let all = log.read(1, usize::MAX).await.unwrap();
    let data = all
        .iter()
        .map(|p| String::from_utf8(p.op.data.to_vec()).unwrap());
    data.take(through as usize).collect()
}

/// Every acknowledged op is in `leader`'s committed log at its version, and `follower`'s
/// committed log equals it (checked through one more acknowledged op).
async fn check(leader: &ReplLog, follower: &ReplLog, acked: &mut Acked, what: &str) {
    let last = append_until_acked(leader, "final", acked).await;
    let on_leader = committed(leader, last).await;
    for (v, data) in acked.iter() {
        assert_eq!(
            on_leader.get(*v as usize - 1),
            Some(data),
            "{what}: acknowledged op at {v} lost"
        );
    }
    assert_eq!(
        committed(follower, last).await,
        on_leader,
        "{what}: follower diverged"
    );
}

struct Dirs {
    _root: tempfile::TempDir,
    p: PathBuf,
    r: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    Dirs {
        p: root.path().join("p"),
        r: root.path().join("r"),
        _root: root,
    }
}

/// Starts appending `data` on `primary`, in the background.
fn start_append(primary: &ReplLog, data: &str) -> tokio::task::JoinHandle<Result<u64, Error>> {
    tokio::spawn(primary.append(op(data.into()), Durability::Replicated))
}

/// Waits until `node` reached the crash point armed as `reached`, then halts it there.
async fn crash(node: ReplLog, reached: tokio::sync::oneshot::Receiver<()>, stage: Stage) {
    tokio::time::timeout(REACH, reached)
        .await
        .unwrap_or_else(|_| panic!("{stage:?} never reached"))
        .unwrap();
    node.halt().await;
}

/// A replica and its primary, in fresh dirs, with three ops acknowledged (versions 1..=3).
async fn pair_with_three_acks() -> (Dirs, ReplLog, ReplLog, Acked) {
    let d = dirs();
    let r = replica(&d.r, "127.0.0.1:0").await;
    let p = primary(&d.p, r.local_addr()).await;
    let mut acked = Acked::new();
    for i in 0..3 {
        append(&p, &format!("a{i}"), &mut acked).await;
    }
    (d, r, p, acked)
}

async fn primary_crash(stage: Option<Stage>, promote: bool) {
    let what = format!(
        "primary crash at {stage:?}, then {}",
        if promote { "promotion" } else { "restart" }
    );
    let (d, r, p, mut acked) = pair_with_three_acks().await;
    // The primary crashes with `x` in flight: `x` is acknowledged only if it got through.
    if let Some(stage) = stage {
        let reached = p.arm_crash(stage);
        let x = start_append(&p, "x");
        crash(p, reached, stage).await;
        let outcome = x.await.unwrap();
        assert!(
            matches!(outcome, Err(Error::OutcomeUnknown { .. })),
            "{what}: {outcome:?}"
        );
    } else {
        append(&p, "x", &mut acked).await;
        p.halt().await;
    }
    if promote {
        // The old primary's machine comes back as a replica; the replica takes over.
        let old = replica(&d.p, "127.0.0.1:0").await;
        r.promote(vec![old.local_addr().to_string()]).await.unwrap();
        check(&r, &old, &mut acked, &what).await;
        old.close().await.unwrap();
        r.close().await.unwrap();
    } else {
        let p = primary(&d.p, r.local_addr()).await;
        append_until_acked(&p, "after", &mut acked).await;
        check(&p, &r, &mut acked, &what).await;
        p.close().await.unwrap();
        r.close().await.unwrap();
    }
}

async fn replica_crash(stage: Stage) {
    let what = format!("replica crash at {stage:?}");
    let d = dirs();
    let r = replica(&d.r, "127.0.0.1:0").await;
    let addr = r.local_addr().to_string();
    let p = primary(&d.p, &addr).await;
    let mut acked = Acked::new();
    for i in 0..3 {
        append(&p, &format!("a{i}"), &mut acked).await;
    }
    let reached = r.arm_crash(stage);
    let x = start_append(&p, "x");
    crash(r, reached, stage).await;
    // It comes back on the same address; the primary syncs it (and a round waiting for it
    // completes, or fails without an ack).
    let r = replica(&d.r, &addr).await;
    match x.await.unwrap() {
        Ok(v) => acked.push((v, "x".into())),
        Err(e) => assert!(!e.is_fatal(), "{what}: {e:?}"),
    }
    check(&p, &r, &mut acked, &what).await;
    // And it can take over with every acknowledged op.
    p.halt().await;
    r.promote(vec![]).await.unwrap();
    let last = acked.iter().map(|(v, _)| *v).max().unwrap();
    let on_r = committed(&r, last).await;
    for (v, data) in &acked {
        assert_eq!(
            on_r.get(*v as usize - 1),
            Some(data),
            "{what}: promoted without {v}"
        );
    }
    r.close().await.unwrap();
}

/// Polls `cond` until it holds (a guard against a hang, like [`REACH`]).
async fn until(what: &str, cond: impl Fn() -> bool) {
    let polling = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(REACH, polling)
        .await
        .unwrap_or_else(|_| panic!("never: {what}"));
}

/// The replica crashes holding several rounds prepared that it never answered (its answers
/// wait behind the first one, stuck at the crash point): it restarts, is synced (the unanswered
/// rounds rolled back there and prepared again), and then promoted with every acknowledged op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_crash_with_several_rounds_prepared_then_promotion_loses_no_ack() {
    let d = dirs();
    let r = replica(&d.r, "127.0.0.1:0").await;
    let addr = r.local_addr().to_string();
    let p = primary(&d.p, &addr).await;
    let mut acked = Acked::new();
    for i in 0..3 {
        append(&p, &format!("a{i}"), &mut acked).await;
    }
    let reached = r.arm_crash(Stage::ReplicaPrepared);
    let mut inflight = vec![start_append(&p, "x0")];
    tokio::time::timeout(REACH, reached).await.unwrap().unwrap();
    // One round at a time, so that each is a round of its own.
    for (n, data) in ["x1", "x2", "x3"].into_iter().enumerate() {
        inflight.push(start_append(&p, data));
        until("the round is in flight", || {
            p.status().rounds.in_flight == n + 2
        })
        .await;
    }
    until("the replica prepared every round", || r.held_through() == 7).await;
    assert_eq!(p.status().rounds.max_in_flight, 4);
    r.halt().await;

    // Back within the timeout: the rounds in flight are offered again after the sync, in
    // order, and all commit.
    let r = replica(&d.r, &addr).await;
    for (x, (data, v)) in inflight
        .into_iter()
        .zip([("x0", 4), ("x1", 5), ("x2", 6), ("x3", 7)])
    {
        assert_eq!(x.await.unwrap().unwrap(), v);
        acked.push((v, data.into()));
    }
    check(&p, &r, &mut acked, "replica crash with rounds in flight").await;
    p.halt().await;
    r.promote(vec![]).await.unwrap();
    let last = acked.iter().map(|(v, _)| *v).max().unwrap();
    let on_r = committed(&r, last).await;
    for (v, data) in &acked {
        assert_eq!(
            on_r.get(*v as usize - 1),
            Some(data),
            "promoted without {v}"
        );
    }
    r.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_crash_at_each_stage_then_restart_loses_no_ack() {
    for stage in PRIMARY_STAGES {
        primary_crash(stage, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_crash_at_each_stage_then_promotion_loses_no_ack() {
    for stage in PRIMARY_STAGES {
        primary_crash(stage, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_crash_at_each_step_then_sync_converges() {
    for stage in REPLICA_STAGES {
        replica_crash(stage).await;
    }
}

/// The primary acknowledges `x` (version 4) and crashes before its `Commit` record is written;
/// the replica holds `x` durably prepared and crashes before it commits it. Returns the dirs
/// and the acknowledged ops.
async fn ack_then_lose_the_commit_records() -> (Dirs, Acked) {
    let (d, r, p, mut acked) = pair_with_three_acks().await;
    // (The replica's crash point must not catch the Commit of an earlier round.)
    r.wait_committed(2).await.unwrap();
    let reached = r.arm_crash(Stage::ReplicaCommit);
    p.drop_commit_records(true);
    let x = p.append(op("x".into()), Durability::Replicated);
    let x = tokio::time::timeout(REACH, x)
        .await
        .expect("x never acknowledged");
    assert_eq!(x.unwrap(), 4);
    acked.push((4, "x".into()));
    crash(r, reached, Stage::ReplicaCommit).await;
    p.halt().await;
    (d, acked)
}

/// Every op of `acked` at its version in `log`'s committed log, as it stands now.
fn assert_holds(log: &ReplLog, acked: &Acked, what: &str) {
    let last = acked.iter().map(|(v, _)| *v).max().unwrap();
    assert!(
        log.committed() >= last,
        "{what}: committed only through {}",
        log.committed()
    );
}

/// [`assert_holds`], and each op's data.
async fn assert_holds_data(log: &ReplLog, acked: &Acked, what: &str) {
    assert_holds(log, acked, what);
    let on_log = committed(log, log.committed()).await;
    for (v, data) in acked {
        assert_eq!(on_log.get(*v as usize - 1), Some(data), "{what}: lost {v}");
    }
}

/// An op acknowledged before the primary's `Commit` record reached the disk survives the
/// primary's restart: it reopens with the op durably prepared and recommits it before anything
/// else. Meanwhile the replica, synced by the restarted primary, keeps it (the Sync announces
/// the primary's prepared tail as committed): were it rolled back there until the recovery
/// round prepared it again, a second crash in between (played here by the replica's crash
/// point on that Prepare) and a promotion would lose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_ahead_of_the_durable_commit_survives_a_restart() {
    let (d, acked) = ack_then_lose_the_commit_records().await;
    let r = replica(&d.r, "127.0.0.1:0").await;
    let reached = r.arm_crash(Stage::ReplicaPrepare);
    let p = primary(&d.p, r.local_addr()).await;
    // Either the recovery round commits, or the replica crashes on its way.
    let recovered = async {
        tokio::select! {
            _ = reached => false,
            recovered = p.wait_committed(3) => recovered.is_ok(),
        }
    };
    let recovered = tokio::time::timeout(REACH, recovered).await;
    if recovered.expect("the restarted primary never recommitted its tail") {
        assert_holds_data(&p, &acked, "restarted primary").await;
    }
    p.halt().await;
    r.halt().await;
    let r = replica(&d.r, "127.0.0.1:0").await;
    r.promote(vec![]).await.unwrap();
    assert_holds_data(&r, &acked, "replica promoted after the restart").await;
    r.close().await.unwrap();
}

/// The same lost `Commit` record, then the replica is promoted and the old primary rejoins as
/// its replica: the acknowledged op is committed on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_ahead_of_the_durable_commit_survives_a_promotion() {
    let (d, mut acked) = ack_then_lose_the_commit_records().await;
    let r = replica(&d.r, "127.0.0.1:0").await;
    let old = replica(&d.p, "127.0.0.1:0").await;
    r.promote(vec![old.local_addr().to_string()]).await.unwrap();
    check(&r, &old, &mut acked, "promotion after a lost Commit record").await;
    old.close().await.unwrap();
    r.close().await.unwrap();
}

/// A snapshot saved while the `Commit` record through its version is not yet durable makes
/// that record durable first: a reopened log is never behind its own snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_never_ahead_of_the_durable_commit_point() {
    let d = dirs();
    let r = replica(&d.r, "127.0.0.1:0").await;
    let p = primary(&d.p, r.local_addr()).await;
    let mut acked = Acked::new();
    p.drop_commit_records(true);
    for i in 0..2 {
        append(&p, &format!("a{i}"), &mut acked).await;
    }
    let snapshot = rig_core::Snapshot {
        version: 2,
        data: "state at 2".into(),
    };
    p.save_snapshot(snapshot.clone()).await.unwrap();
    p.halt().await;
    r.halt().await;
    let reopened = replica(&d.p, "127.0.0.1:0").await;
    assert_eq!(reopened.committed(), 2);
    assert_eq!(reopened.load_snapshot().await.unwrap(), Some(snapshot));
    reopened.close().await.unwrap();
}
