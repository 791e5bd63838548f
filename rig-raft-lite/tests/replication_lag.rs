//! The leader's view of how far behind each member is (`RaftLog::replication_lag`, shown in the
//! metadata example's `/status`): zero once a member caught up, growing while it is cut off,
//! back to zero after the partition heals; empty on a follower.

mod support;

use std::time::Duration;

use rig_core::{Durability, Log, Operation};
use rig_raft_lite::core::CommitMode;
use support::group::Group;

async fn append(g: &Group, n: u64) {
    for i in 0..n {
        g.append(
            vec![Operation::new(format!("op{i}"), "x")],
            Durability::Replicated,
        )
        .await
        .unwrap();
    }
}

/// Waits (simulated time) until `check` holds on the leader's lag map.
async fn until_lag(
    g: &Group,
    what: &str,
    check: impl Fn(&std::collections::BTreeMap<u64, u64>) -> bool,
) {
    for _ in 0..2_000 {
        if check(&g.nodes[g.leader].replication_lag()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: lag is {:?}", g.nodes[g.leader].replication_lag());
}

#[tokio::test(start_paused = true)]
async fn the_leader_reports_each_members_lag() {
    let g = Group::start(3, CommitMode::Strict, Vec::new(), 5).await;
    append(&g, 5).await;
    until_lag(&g, "both followers catch up", |lag| {
        lag.len() == 2 && lag.values().all(|&l| l == 0)
    })
    .await;
    let follower = (g.leader + 1) % 3;
    let follower_id = g.nodes[follower].id();
    assert!(
        g.nodes[follower].replication_lag().is_empty(),
        "a follower knows no one's progress"
    );
    g.router.isolate(follower_id);
    append(&g, 10).await;
    let lag = g.nodes[g.leader].replication_lag();
    assert!(
        lag[&follower_id] >= 10,
        "the cut-off member is behind: {lag:?}"
    );
    g.router.heal();
    until_lag(&g, "the member catches up after the heal", |lag| {
        lag.get(&follower_id) == Some(&0)
    })
    .await;
}
