//! Compaction and snapshot shipping: a primary that compacted its log catches a wiped replica
//! up with its snapshot (sent in chunks) and then the entries after it.

mod support;

use rig_core::{Durability, Log, Operation, Snapshot};
use rig_repl_2pc::ReplLog;
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
