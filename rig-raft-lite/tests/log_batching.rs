//! Adaptive batching on the leader: many concurrent appends (more than the followers' pipelines
//! take at once, so most are held back and proposed together) get consecutive versions in call
//! order, and a leader change fails the held-back ones without leaving a gap.

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use rig_core::{Durability, Error, Log, Operation};
use rig_raft_lite::core::CommitMode;
use support::group::Group;

#[tokio::test]
async fn concurrent_appends_get_call_order_versions() {
    let g = Group::start(3, CommitMode::Volatile, Vec::new(), 9).await;
    let lead = &g.nodes[g.leader];
    let futs: Vec<_> = (0..200)
        .map(|i| {
            lead.append(
                vec![Operation::new(format!("op{i}"), "x")],
                Durability::Applied,
            )
        })
        .collect();
    let versions: Vec<u64> = join_all(futs)
        .await
        .into_iter()
        .map(|r| r.expect("acknowledged"))
        .collect();
    let base = versions[0];
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(*v, base + i as u64, "versions follow the calls");
    }
    let got = lead.read(base, 1000).await.expect("read");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.op.method, format!("op{i}"));
    }
}

#[tokio::test]
async fn held_back_appends_fail_cleanly_when_leadership_is_lost() {
    let mut g = Group::start(3, CommitMode::Strict, Vec::new(), 13).await;
    let old = g.leader;
    g.router.isolate(old as u64 + 1);
    let futs: Vec<_> = (0..100)
        .map(|i| {
            g.nodes[old].append(
                vec![Operation::new(format!("x{i}"), "")],
                Durability::Applied,
            )
        })
        .collect();
    let results = tokio::time::timeout(Duration::from_secs(20), join_all(futs))
        .await
        .expect("every append resolves");
    for r in &results {
        assert!(
            matches!(
                r,
                Err(Error::NotLeader { .. } | Error::OutcomeUnknown { .. })
            ),
            "{r:?}"
        );
    }
    g.leader = loop {
        let i = g.wait_leader().await;
        if i != old {
            break i;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    g.router.heal();
    let v = g
        .append(vec![Operation::new("after", "")], Durability::Replicated)
        .await
        .expect("the new leader writes");
    let all = g.read(1, 1000).await.expect("read");
    assert_eq!(all.len() as u64, v, "no gap");
    assert_eq!(all.last().expect("entries").op.method, "after");
}
