//! A 3-node in-process RaftLog group under failover: followers refuse writes with the leader's
//! name, an isolated leader is replaced, writes continue on the new leader, and every
//! acknowledged op is present, in order, on every node once the old leader rejoins.

mod support;

use std::time::Duration;

use rig_core::{Durability, Error, Log, Operation, Role};
use rig_raft_lite::core::CommitMode;
use support::group::Group;

async fn write_some(log: &impl Log, tag: &str, n: usize, acked: &mut Vec<(u64, String)>) {
    for i in 0..n {
        let method = format!("{tag}-{i}");
        let v = log
            .append(
                vec![Operation::new(method.clone(), "x")],
                Durability::Replicated,
            )
            .await
            .expect("the leader acknowledges");
        acked.push((v, method));
    }
}

async fn failover(mode: CommitMode) {
    let mut g = Group::start(3, mode, Vec::new(), 7).await;
    let mut acked = Vec::new();
    write_some(&g, "first", 20, &mut acked).await;

    let old = g.leader;
    let follower = (old + 1) % 3;
    let err = g.nodes[follower]
        .append(vec![Operation::new("nope", "x")], Durability::Applied)
        .await
        .unwrap_err();
    let leader_name = (old + 1).to_string();
    assert!(
        matches!(err, Error::NotLeader { leader: Some(ref l) } if *l == leader_name),
        "{err:?}"
    );
    assert!(matches!(
        g.nodes[follower].read_barrier().await,
        Err(Error::NotLeader { .. })
    ));

    g.router.isolate(old as u64 + 1);
    g.leader = loop {
        let i = g.wait_leader().await;
        if i != old {
            break i;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    write_some(&g, "second", 20, &mut acked).await;

    g.router.heal();
    let target = acked.last().expect("acked").0;
    for node in &g.nodes {
        while node.committed() < target {
            node.wait_committed(node.committed()).await.expect("tail");
        }
        let got = node.read(1, 1000).await.expect("read");
        for (v, method) in &acked {
            assert_eq!(
                &got[(*v - 1) as usize].op.method,
                method,
                "node {} version {v}",
                node.id()
            );
        }
    }
    assert_eq!(
        g.nodes[old].role(),
        Role::Follower {
            leader: Some((g.leader + 1).to_string())
        }
    );
    assert_eq!(g.read_barrier().await.expect("barrier"), g.committed());
}

#[tokio::test]
async fn strict_failover_keeps_every_acknowledged_op() {
    failover(CommitMode::Strict).await;
}

#[tokio::test]
async fn volatile_failover_keeps_every_acknowledged_op() {
    failover(CommitMode::Volatile).await;
}
