//! A tailing engine whose log installs its leader's snapshot (the node was too far behind, its
//! unapplied entries were dropped in the snapshot's favour) restores it and goes on, without a
//! reopen — the contract in `Log::first_version`'s docs.

mod common;

use bytes::Bytes;
use common::{set, until, Kv};
use rig_core::{Error, Log, MemLog, Rig, Snapshot};

/// Copies the leader's entries `from..=through` into `follower` (what replication does).
async fn replicate(leader: &MemLog, follower: &MemLog, from: u64, through: u64) {
    let entries = leader
        .read(from, (through + 1 - from) as usize)
        .await
        .unwrap();
    assert_eq!(entries.len() as u64, through + 1 - from);
    let ops = entries.into_iter().map(|p| p.op).collect();
    let first = follower
        .append(ops, rig_core::Durability::Local)
        .await
        .unwrap();
    assert_eq!(
        first, from,
        "the follower's copy keeps the leader's versions"
    );
}

#[tokio::test]
async fn a_follower_restores_a_snapshot_its_log_installed_and_applies_what_follows() {
    let leader_log = MemLog::new();
    let leader = Rig::open(Kv::default(), leader_log.clone()).await.unwrap();
    // Client sequences ride along so the client table is part of what the snapshot carries.
    for i in 0..20u64 {
        leader
            .execute(set(&format!("k{}", i % 6), &i.to_string()).with_client(7, i + 1))
            .await
            .unwrap();
    }
    let follower_log = MemLog::new();
    let follower = Rig::open(Kv::default(), follower_log.follower_view(None))
        .await
        .unwrap();
    replicate(&leader_log, &follower_log, 1, 3).await;
    until(|| follower.applied_version() == 3).await;

    assert_eq!(leader.snapshot_now().await.unwrap(), 20);
    for i in 20..25u64 {
        leader
            .execute(set(&format!("k{}", i % 6), &i.to_string()).with_client(7, i + 1))
            .await
            .unwrap();
    }
    // The follower lags (it holds 1..3): its log installs the leader's snapshot at 20 and then
    // receives 21..25.
    let snapshot = leader_log.load_snapshot().await.unwrap().expect("saved");
    follower_log.install_snapshot(snapshot);
    replicate(&leader_log, &follower_log, 21, 25).await;

    until(|| follower.applied_version() == 25).await;
    assert_eq!(follower.state().await.map, leader.state().await.map);
    assert_eq!(follower.state().await.version, 25);
    assert!(
        follower.status().first_version > 4,
        "entries 4..20 were never applied one by one"
    );
    // The client table came with the snapshot: after a failover onto this node, a retry of an
    // old request is answered from the table instead of being applied again.
    let promoted = {
        follower.close().await.unwrap();
        Rig::open(Kv::default(), follower_log.clone())
            .await
            .unwrap()
    };
    let retry = promoted
        .execute(set("k1", "retried").with_client(7, 8))
        .await;
    assert!(
        matches!(retry, Err(Error::Rejected(_))) || retry.as_ref().is_ok_and(|e| e.version <= 25),
        "a retry of an applied request is not applied twice: {retry:?}"
    );
    assert_ne!(
        promoted.state().await.map.get("k1").map(String::as_str),
        Some("retried")
    );
}

#[tokio::test]
async fn an_installed_snapshot_with_bad_bytes_poisons_the_follower_instead_of_applying_garbage() {
    let leader_log = MemLog::new();
    let follower_log = MemLog::new();
    let follower = Rig::open(Kv::default(), follower_log.follower_view(None))
        .await
        .unwrap();
    let leader = Rig::open(Kv::default(), leader_log.clone()).await.unwrap();
    for i in 0..4 {
        leader.execute(set("a", &i.to_string())).await.unwrap();
    }
    replicate(&leader_log, &follower_log, 1, 2).await;
    until(|| follower.applied_version() == 2).await;

    follower_log.install_snapshot(Snapshot {
        version: 3,
        data: Bytes::from_static(b"not an engine snapshot"),
    });
    replicate(&leader_log, &follower_log, 4, 4).await;
    // A read barrier learns that the engine stopped instead of waiting for version 4 forever.
    let error = tokio::time::timeout(std::time::Duration::from_secs(10), follower.read_barrier())
        .await
        .expect("the read barrier returns")
        .expect_err("the follower engine stops");
    assert!(matches!(error, Error::Poisoned { .. }), "{error}");
    assert!(
        error.to_string().contains("snapshot at version 3"),
        "the error names the snapshot: {error}"
    );
    assert_eq!(
        follower.applied_version(),
        2,
        "nothing past the bad snapshot applied"
    );
    assert_eq!(
        follower.state().await.map.get("a").map(String::as_str),
        Some("1")
    );
}
