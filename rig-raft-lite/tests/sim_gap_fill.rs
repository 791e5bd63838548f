//! Gap filling from peers in rig-testkit's simulation: RaftLog nodes behind lossy one-way links
//! from the leader (10-30% of its messages to each follower dropped) take pipelined appends
//! from concurrent clients. Followers keep what arrives beyond a gap and fill the gap from a
//! random voting peer (a `sometimes!` probe requires that a peer other than the leader served
//! one across the seeds); after healing, every acknowledged op is at its version on every node.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::Rand;
use rig_core::{Durability, Log, Operation};
use rig_raft_lite::core::CommitMode;
use rig_testkit::sim::Simulation;
use support::sim_group::SimGroup;

const PROBE: &str = "a follower filled a gap from a peer other than the leader";

#[test]
fn sim_followers_fill_gaps_from_peers_behind_lossy_links() {
    Simulation::new(
        "rig-raft-lite",
        "sim_followers_fill_gaps_from_peers_behind_lossy_links",
    )
    .seeds(16)
    .expect_probes(&[PROBE])
    .run(|ctx| async move {
        let rand = ctx.rand();
        let mode = if ctx.seed % 2 == 0 {
            CommitMode::Strict
        } else {
            CommitMode::Volatile
        };
        let group = Arc::new(SimGroup::start(3, mode, rand.split(), |_| {}));
        let (leader, _) = group.converge(ctx.seed).await;
        let loss = 100 + rand.below(200);
        for follower in (1..=3).filter(|&f| f != leader.id()) {
            group
                .router
                .lossy(leader.id(), follower, loss, rand.split());
        }
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut clients = Vec::new();
        for c in 0..8 {
            let (group, acked) = (group.clone(), acked.clone());
            clients.push(tokio::spawn(async move {
                for i in 0..40 {
                    let Some(leader) = group.leader() else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let method = format!("c{c}-{i}");
                    let op = vec![Operation::new(method.clone(), "x")];
                    if let Ok(v) = leader.append(op, Durability::Applied).await {
                        acked.lock().unwrap().push((v, method));
                    }
                }
            }));
        }
        for c in clients {
            c.await.expect("client");
        }
        let fills: u64 = group.up().iter().map(|n| n.gap_fills().0).sum();
        rig_testkit::sometimes!(fills > 0, PROBE);

        let (_, target) = group.converge(ctx.seed).await;
        let acked = acked.lock().unwrap().clone();
        assert!(!acked.is_empty(), "seed {}: nothing acknowledged", ctx.seed);
        for node in group.up() {
            while node.committed() < target {
                node.wait_committed(node.committed()).await.expect("tail");
            }
            let log = node.read(1, usize::MAX).await.expect("read");
            for (v, method) in &acked {
                assert_eq!(
                    &log[(*v - 1) as usize].op.method,
                    method,
                    "seed {}: node {} version {v}",
                    ctx.seed,
                    node.id()
                );
            }
        }
        group.shutdown().await;
    });
}
