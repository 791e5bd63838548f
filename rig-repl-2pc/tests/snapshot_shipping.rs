//! Compaction and snapshot shipping: a primary that compacted its log catches a wiped replica
//! up with its snapshot (sent in chunks) and then the entries after it; an engine running on a
//! lagging replica restores the snapshot its log installed, without being reopened.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rig_core::{Durability, Log, Operation, Rig, Snapshot};
use rig_repl_2pc::{Config, Mode, Policy, ReplLog, StartAs};
use rig_testkit::proxy::TcpProxy;
use support::*;

/// A snapshot of a few MiB, so that it travels in several chunks.
fn snapshot(version: u64) -> Snapshot {
    let data: Vec<u8> = (0..(5u32 << 19)).map(|i| (i % 251) as u8).collect();
    Snapshot {
        version,
        data: data.into(),
    }
}

async fn data(log: &ReplLog, from: u64, through: u64) -> Vec<String> {
    let mut out = Vec::new();
    while log.committed() < through {
        log.wait_committed(log.committed()).await.unwrap();
    }
    for p in log.read(from, (through - from + 1) as usize).await.unwrap() {
        out.push(String::from_utf8(p.op.data.to_vec()).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_replica_rejoins_from_the_snapshot_and_converges() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let addr = replica.local_addr().to_string();
    let primary = open_primary(&pd, &addr, strict()).await.unwrap();
    let first: Vec<_> = (0..300)
        .map(|i| Operation::new("put", format!("a-{i}")))
        .collect();
    primary.append(first, Durability::Replicated).await.unwrap();
    assert_eq!(primary.committed(), 300);

    // The engine took a snapshot at 250 and compacts: the entries through 250 are gone.
    let snap = snapshot(250);
    primary.save_snapshot(snap.clone()).await.unwrap();
    primary.compact(250).await.unwrap();
    assert_eq!(primary.first_version(), 251);
    assert!(
        primary.read(1, 10).await.is_err(),
        "compacted entries still readable"
    );
    assert_eq!(data(&primary, 251, 252).await, ["a-250", "a-251"]);

    // The replica loses its disk and rejoins empty on the same address.
    replica.halt().await;
    let (_, wiped) = dirs(root.path(), 1);
    let replica = open_replica_at(&wiped, &addr).await.unwrap();
    let more = append_each(&primary, ops("b", 0..5)).await.unwrap();
    assert_eq!(more, (301..=305).collect::<Vec<_>>());

    assert_eq!(replica.load_snapshot().await.unwrap(), Some(snap.clone()));
    assert_eq!(replica.first_version(), 251);
    assert_eq!(
        data(&replica, 251, 305).await,
        data(&primary, 251, 305).await
    );

    // The primary reopens over its compacted local log; the rejoined replica can take over.
    primary.close().await.unwrap();
    let primary = open_primary(&pd, &addr, strict()).await.unwrap();
    assert_eq!((primary.first_version(), primary.committed()), (251, 305));
    assert_eq!(primary.load_snapshot().await.unwrap(), Some(snap));
    primary.halt().await;
    replica.promote(vec![]).await.unwrap();
    let v = append_each(&replica, ops("c", 0..1)).await.unwrap();
    assert_eq!(v, [306]);
    assert_eq!(data(&replica, 301, 306).await[5], "c-0");
}

/// The engine on a replica cut off (SemiSync: the primary goes on alone) while the primary's
/// engine snapshots and compacts: once the link is back, the replica's log installs the
/// shipped snapshot and the replica's engine, still running, restores it and applies the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_engine_restores_the_shipped_snapshot_without_a_reopen() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = Arc::new(open_replica(&rd).await.unwrap());
    let proxy = TcpProxy::start(replica.local_addr()).await.unwrap();
    let semi = Policy::SemiSync {
        timeout: Duration::from_millis(300),
    };
    let mut config = Config::new(
        "127.0.0.1:0",
        StartAs::Primary {
            replicas: vec![proxy.addr().to_string()],
        },
        handshake("primary"),
    );
    config.policy = semi;
    let primary = Arc::new(ReplLog::open(file(&pd).unwrap(), config).await.unwrap());
    let writer = Rig::open(Sum::default(), Arc::clone(&primary))
        .await
        .unwrap();
    let follower = Rig::open(Sum::default(), Arc::clone(&replica))
        .await
        .unwrap();
    let add = |n: i64| Operation::json("add", &n).unwrap();
    // A guard against a hang (an engine that never restores stops applying).
    let applied = |rig: &Rig<Sum, Arc<ReplLog>>, v: u64| {
        let rig = rig.clone();
        async move {
            let polling = async {
                while rig.state().await.version < v {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(30), polling)
                .await
                .unwrap_or_else(|_| panic!("the engine never applied version {v}"));
        }
    };

    for n in 1..=10 {
        writer.execute(add(n)).await.unwrap();
    }
    applied(&follower, 10).await;

    proxy.cut();
    for n in 11..=30 {
        writer.execute(add(n)).await.unwrap();
    }
    assert_eq!(primary.status().mode, Mode::Degraded);
    assert_eq!(writer.snapshot_now().await.unwrap(), 30);
    assert_eq!(primary.first_version(), 31, "the primary did not compact");
    for n in 31..=35 {
        writer.execute(add(n)).await.unwrap();
    }
    assert_eq!(
        follower.state().await.version,
        10,
        "the replica was not cut off"
    );

    proxy.heal();
    applied(&follower, 35).await;
    assert_eq!(follower.state().await.total, (1..=35).sum::<i64>());
    assert_eq!(follower.state().await.total, writer.state().await.total);
    assert_eq!(replica.first_version(), 31, "no snapshot was installed");
    let installed = replica.load_snapshot().await.unwrap().unwrap();
    assert_eq!(installed.version, 30);
    assert_eq!(installed, primary.load_snapshot().await.unwrap().unwrap());
}
