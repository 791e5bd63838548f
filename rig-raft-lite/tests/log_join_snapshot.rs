//! A node joins a group whose log was compacted: it starts as an observer, receives the leader's
//! snapshot as a chunked stream (its log cannot be served from entry 1 any more), installs it,
//! receives the log after it while writes go on, and is promoted to voter. Its snapshot is the
//! engine's bytes verbatim, its first version follows the snapshot, and it holds every
//! acknowledged op after it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rig_core::seams::{SeededRand, TokioClock};
use rig_core::{Log, Snapshot};
use rig_raft_lite::core::{CommitMode, Config, StoredMembership};
use rig_raft_lite::driver::{Options, RaftLog};
use rig_raft_lite::storage::{MemStorage, Storage};
use support::group::Group;
use support::writes::{has_every_acked_after, load, wait_for};

/// Compacts `node` through `version`, retrying while its disk or the majority's lags (Volatile
/// mode compacts only what is durable locally and on a majority: the background sync).
async fn compact(node: &RaftLog, version: u64) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            node.compact(version).await.expect("compact");
            if node.first_version() == version + 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    waited.await.expect("node compacted");
}

async fn join_a_compacted_group(mode: CommitMode) {
    let g = Group::start_tuned(3, mode, Vec::new(), Vec::new(), 17, |cfg| {
        cfg.snapshot_chunk = 64;
        cfg.compaction_retention = 0;
    })
    .await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let writer = tokio::spawn(load(g.nodes.clone(), acked.clone(), stop.clone()));
    wait_for(|| acked.lock().unwrap().len() >= 30).await;

    // Every node's engine snapshots at a version all of them committed, and compacts.
    let version = acked.lock().unwrap().last().expect("acked").0;
    let snapshot = Snapshot {
        version,
        data: Bytes::from(vec![7u8; 300]),
    };
    for node in &g.nodes {
        while node.committed() < version {
            node.wait_committed(node.committed()).await.expect("tail");
        }
        node.save_snapshot(snapshot.clone()).await.expect("save");
        compact(node, version).await;
    }

    // The join, while writes go on: node 4 starts as an observer with an empty log.
    let leader = g.nodes[g.wait_leader().await].clone();
    leader.add_member(4, "").await.expect("add node 4");
    let members = leader.members();
    let mut disk = MemStorage::default();
    disk.save_membership(&StoredMembership {
        index: 0,
        current: members.clone(),
        previous: members,
    })
    .expect("persist the membership");
    let mut opts = Options::new(Config::new(4, vec![1, 2, 3]));
    opts.config.commit_mode = mode;
    opts.config.snapshot_chunk = 64;
    opts.tick = Duration::from_millis(5);
    let fourth = RaftLog::start(
        opts,
        Box::new(disk),
        Arc::new(g.router.clone()),
        g.router.register(4),
        Arc::new(TokioClock),
        Box::new(SeededRand::new(404)),
    )
    .expect("start node 4");
    wait_for(|| fourth.members().voters.contains_key(&4)).await;
    let before = acked.lock().unwrap().len();
    wait_for(|| acked.lock().unwrap().len() >= before + 20).await;
    *stop.lock().unwrap() = true;
    writer.await.expect("writer");

    assert!(
        fourth.snapshots_installed() >= 1,
        "node 4 caught up from the snapshot"
    );
    assert_eq!(
        fourth.load_snapshot().await.expect("load"),
        Some(snapshot),
        "the engine's snapshot, verbatim"
    );
    assert_eq!(fourth.first_version(), version + 1);
    let acked = acked.lock().unwrap().clone();
    has_every_acked_after(&fourth, &acked, version).await;
    fourth.close().await.expect("close");
}

#[tokio::test]
async fn strict_a_joiner_receives_the_snapshot_then_becomes_a_voter() {
    join_a_compacted_group(CommitMode::Strict).await;
}

#[tokio::test]
async fn volatile_a_joiner_receives_the_snapshot_then_becomes_a_voter() {
    join_a_compacted_group(CommitMode::Volatile).await;
}
