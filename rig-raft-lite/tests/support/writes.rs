//! Helpers shared by the driver-level membership tests: a writer that keeps appending through
//! whichever node leads, and a bounded wait for a condition.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::{Durability, Log, Operation, Role};
use rig_raft_lite::driver::RaftLog;

/// Waits (at most 30 s) until `cond` holds.
pub async fn wait_for(mut cond: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.expect("the condition holds in time");
}

/// Appends through whichever node leads until `stop`, recording every acknowledged op.
pub async fn load(
    nodes: Vec<Arc<RaftLog>>,
    acked: Arc<Mutex<Vec<(u64, String)>>>,
    stop: Arc<Mutex<bool>>,
) {
    let mut n = 0;
    while !*stop.lock().unwrap() {
        let Some(leader) = nodes.iter().find(|l| l.role() == Role::Leader) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let method = format!("w{n}");
        n += 1;
        let op = vec![Operation::new(method.clone(), "x")];
        if let Ok(v) = leader.append(op, Durability::Replicated).await {
            acked.lock().unwrap().push((v, method));
        }
    }
}

/// Waits until `node` committed the last acknowledged op, then checks every acknowledged op
/// after version `after` (the node's snapshot, or 0) is in its log at its version.
pub async fn has_every_acked_after(node: &RaftLog, acked: &[(u64, String)], after: u64) {
    let target = acked.last().expect("some op acknowledged").0;
    while node.committed() < target {
        node.wait_committed(node.committed()).await.expect("tail");
    }
    let got = node.read(after + 1, usize::MAX).await.expect("read");
    for (v, method) in acked.iter().filter(|(v, _)| *v > after) {
        assert_eq!(
            &got[(v - after - 1) as usize].op.method,
            method,
            "node {} version {v}",
            node.id()
        );
    }
}
