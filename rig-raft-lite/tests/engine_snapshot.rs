//! rig's engine on every node of a 3-node group: a follower cut off while the leader writes,
//! snapshots and compacts its log is healed and catches up from the leader's snapshot, streamed
//! in small chunks; its engine restores it without being reopened and ends with the leader's
//! state. Strict and Volatile, on memory and on simulated files.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rig_core::doc_support::{add, Counters};
use rig_core::{Log, Rig};
use rig_raft_lite::core::CommitMode;
use rig_raft_lite::RaftLog;
use rig_testkit::simfs::SimFs;
use support::group::Group;

type Engine = Rig<Counters, Arc<RaftLog>>;

async fn applied(rig: &Engine, version: u64) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while rig.applied_version() < version {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.expect("the engine applies the version");
}

/// Compacts `log` through `version`, retrying while its disk or the majority's lags (Volatile
/// mode compacts only what is durable locally and on a majority: the background sync).
async fn compact(log: &RaftLog, version: u64) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            log.compact(version).await.expect("compact");
            if log.first_version() == version + 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    waited.await.expect("compacted");
}

async fn lagging_follower_restores_the_leaders_snapshot(mode: CommitMode, files: bool, seed: u64) {
    let sim_disks = if files {
        (0..3).map(|i| SimFs::new(seed * 10 + i)).collect()
    } else {
        Vec::new()
    };
    let g = Group::start_tuned(3, mode, Vec::new(), sim_disks, seed, |cfg| {
        // Small chunks (a snapshot of the counters takes several) and no retention.
        cfg.snapshot_chunk = 48;
        cfg.snapshot_window = 2;
        cfg.compaction_retention = 0;
    })
    .await;
    let mut rigs = Vec::new();
    for node in &g.nodes {
        rigs.push(
            Rig::open(Counters::default(), node.clone())
                .await
                .expect("open"),
        );
    }
    let (leader, lag) = (g.leader, (g.leader + 1) % 3);
    for i in 0..5 {
        rigs[leader]
            .execute(add(&format!("k{i}"), 1))
            .await
            .expect("write");
    }
    applied(&rigs[lag], rigs[leader].applied_version()).await;
    g.router.isolate(lag as u64 + 1);
    for i in 0..40 {
        rigs[leader]
            .execute(add(&format!("k{}", i % 7), 2))
            .await
            .expect("write while cut off");
    }
    let snap = rigs[leader]
        .snapshot_now()
        .await
        .expect("snapshot and compact");
    compact(&g.nodes[leader], snap).await;
    // The other follower compacts too, so the lagging one cannot fill its gap from it.
    let other = 3 - leader - lag;
    applied(&rigs[other], snap).await;
    let other_snap = rigs[other]
        .snapshot_now()
        .await
        .expect("the other follower snapshots");
    compact(&g.nodes[other], other_snap).await;
    let first = g.nodes[leader].first_version();
    assert!(
        first > rigs[lag].applied_version() + 1,
        "the leader compacted past the follower: first {first}, follower at {}",
        rigs[lag].applied_version()
    );
    for i in 0..5 {
        rigs[leader]
            .execute(add("after", i))
            .await
            .expect("write after the snapshot");
    }
    g.router.heal();
    let target = rigs[leader].applied_version();
    applied(&rigs[lag], target).await;
    assert!(
        g.nodes[lag].snapshots_installed() >= 1,
        "caught up from a snapshot"
    );
    let installed = g.nodes[lag]
        .load_snapshot()
        .await
        .expect("load")
        .expect("a snapshot");
    assert!(
        installed.version >= snap,
        "the leader's snapshot, at {snap} or later"
    );
    assert!(g.nodes[lag].first_version() <= installed.version + 1);
    let keys = (0..7).map(|i| format!("k{i}")).chain(["after".to_string()]);
    for key in keys {
        let want = rigs[leader].state().await.get(&key);
        assert!(want > 0, "{key} was written");
        assert_eq!(
            rigs[lag].state().await.get(&key),
            want,
            "{key} on the follower"
        );
    }
    assert_eq!(rigs[lag].applied_version(), target);
}

#[tokio::test]
async fn strict_follower_catches_up_from_a_snapshot() {
    lagging_follower_restores_the_leaders_snapshot(CommitMode::Strict, false, 41).await;
}

#[tokio::test]
async fn volatile_follower_catches_up_from_a_snapshot() {
    lagging_follower_restores_the_leaders_snapshot(CommitMode::Volatile, false, 42).await;
}

#[tokio::test]
async fn strict_follower_on_files_catches_up_from_a_snapshot() {
    lagging_follower_restores_the_leaders_snapshot(CommitMode::Strict, true, 43).await;
}
