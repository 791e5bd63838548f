//! Both watermarks through the Log trait: in Volatile mode an `Applied` append is committed
//! before it is durable on a majority, and the background sync then moves `durable` up to it;
//! in Strict mode the two coincide.

mod support;

use std::time::Duration;

use rig_core::{Durability, Log, Operation};
use rig_raft_lite::core::CommitMode;
use support::group::Group;

#[tokio::test(start_paused = true)]
async fn volatile_reports_committed_ahead_of_durable_until_the_sync() {
    let g = Group::start(3, CommitMode::Volatile, Vec::new(), 11).await;
    let mut lagged = false;
    for i in 0..20 {
        let v = g
            .append(
                vec![Operation::new(format!("op{i}"), "x")],
                Durability::Applied,
            )
            .await
            .unwrap();
        assert!(g.committed() >= v);
        lagged |= g.durable() < v;
    }
    assert!(
        lagged,
        "an Applied ack came before the majority fsync at least once"
    );
    let v = g.committed();
    // The background sync (100 ms) makes everything durable on a majority.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(g.durable(), v);
    let r = g
        .append(vec![Operation::new("last", "x")], Durability::Replicated)
        .await
        .unwrap();
    assert!(g.durable() >= r);
}

#[tokio::test(start_paused = true)]
async fn strict_durable_equals_committed() {
    let g = Group::start(3, CommitMode::Strict, Vec::new(), 12).await;
    for i in 0..10 {
        let v = g
            .append(
                vec![Operation::new(format!("op{i}"), "x")],
                Durability::Applied,
            )
            .await
            .unwrap();
        assert!(
            g.durable() >= v,
            "Strict commits only what a majority fsynced"
        );
    }
    assert_eq!(g.durable(), g.committed());
}
