//! rig's engine on every node of a 3-node Raft group: the leader executes, followers refuse with
//! `NotLeader` and apply by tailing the log, and a linearizable read works on the leader.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rig_core::doc_support::{add, Counters};
use rig_core::{Error, Rig};
use rig_raft_lite::core::CommitMode;
use rig_raft_lite::RaftLog;
use support::group::Group;

async fn wait_applied(rig: &Rig<Counters, Arc<RaftLog>>, version: u64) {
    while rig.applied_version() < version {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn engines_follow_the_leader() {
    let g = Group::start(3, CommitMode::Strict, Vec::new(), 21).await;
    let mut rigs = Vec::new();
    for node in &g.nodes {
        rigs.push(
            Rig::open(Counters::default(), node.clone())
                .await
                .expect("open the engine"),
        );
    }
    let old = g.leader;
    for _ in 0..10 {
        rigs[old]
            .execute(add("hits", 1))
            .await
            .expect("the leader executes");
    }
    let follower = (old + 1) % 3;
    let err = rigs[follower].execute(add("hits", 1)).await.unwrap_err();
    assert!(matches!(err, Error::NotLeader { .. }), "{err:?}");
    let v = rigs[old]
        .read_barrier()
        .await
        .expect("linearizable read on the leader");
    assert_eq!(rigs[old].state().await.get("hits"), 10);
    wait_applied(&rigs[follower], v).await;
    assert_eq!(
        rigs[follower].state().await.get("hits"),
        10,
        "the follower applied by tailing"
    );
}
