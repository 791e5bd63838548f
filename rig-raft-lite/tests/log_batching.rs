//! Adaptive batching on the leader: many concurrent appends (more than the followers' pipelines
//! take at once, so most are held back and proposed together) get consecutive versions in call
//! order, and a leader change fails the held-back ones without leaving a gap. Strict mode holds
//! every append back, so concurrent ones share one proposal (group commit).

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use rig_core::seams::{SeededRand, TokioClock};
use rig_core::{Durability, Error, Log, Operation, Role};
use rig_raft_lite::core::{CommitMode, Config, Message};
use rig_raft_lite::driver::{Network, Options, RaftLog, Router};
use rig_raft_lite::storage::MemStorage;
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

/// Counts the appends with entries (bytes of the stream) that each node sends.
#[derive(Debug)]
struct CountingNetwork {
    inner: Router,
    appends: Mutex<BTreeMap<u64, u64>>,
}

impl Network for CountingNetwork {
    fn send(&self, from: u64, to: u64, msg: Message) {
        if matches!(&msg, Message::Append { bytes, .. } if !bytes.is_empty()) {
            *self.appends.lock().unwrap().entry(from).or_default() += 1;
        }
        self.inner.send(from, to, msg);
    }
}

/// Strict mode's group commit: appends made while the leader's task is busy are proposed
/// together, so they share one fsync on the leader and one append (and fsync) per follower,
/// instead of one each for as many as the followers' pipelines take.
#[tokio::test(start_paused = true)]
async fn concurrent_strict_appends_share_one_proposal() {
    let router = Router::default();
    let net = Arc::new(CountingNetwork {
        inner: router.clone(),
        appends: Default::default(),
    });
    let nodes: Vec<RaftLog> = (1..=3)
        .map(|id| {
            let mut opts = Options::new(Config::new(id, vec![1, 2, 3]));
            opts.config.commit_mode = CommitMode::Strict;
            let inbox = router.register(id);
            let disk = Box::new(MemStorage::default());
            let rand = Box::new(SeededRand::new(id));
            RaftLog::start(opts, disk, net.clone(), inbox, Arc::new(TokioClock), rand)
                .expect("start")
        })
        .collect();
    let leader = loop {
        if let Some(l) = nodes.iter().find(|n| n.role() == Role::Leader) {
            if l.read_barrier().await.is_ok() {
                break l;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let before = net
        .appends
        .lock()
        .unwrap()
        .get(&leader.id())
        .copied()
        .unwrap_or(0);
    let futs: Vec<_> = (0..32)
        .map(|i| {
            leader.append(
                vec![Operation::new(format!("op{i}"), "")],
                Durability::Applied,
            )
        })
        .collect();
    for r in join_all(futs).await {
        r.expect("acknowledged");
    }
    let after = net.appends.lock().unwrap()[&leader.id()];
    assert_eq!(
        after - before,
        2,
        "one append with all 32 entries per follower"
    );
    for n in &nodes {
        n.close().await.expect("close");
    }
}
