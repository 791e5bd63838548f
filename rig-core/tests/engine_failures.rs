//! Engine poisoning, roles, followers, snapshots and restarts over MemLog.

mod common;

use common::{set, until, Kv};
use rig_core::{Error, Log, MemLog, Operation, Options, Rig, SnapshotPolicy};

#[tokio::test]
async fn apply_failure_poisons_the_engine() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    rig.execute(set("a", "1")).await.unwrap();
    let err = rig
        .execute(Operation::new("explode", ""))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    let later = rig.execute(set("b", "1")).await.unwrap_err();
    assert!(
        matches!(later, Error::Poisoned { ref cause } if cause.contains("boom")),
        "{later}"
    );
    assert_eq!(
        log.committed(),
        2,
        "the exploding op was logged, nothing after it"
    );
}

#[tokio::test]
async fn a_fatal_log_error_poisons_the_engine() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    let fsync = std::io::Error::other("fsync failed");
    log.fail_next_append(Error::io("mem-log", "fsync of segment 1", fsync), false);
    let err = rig.execute(set("a", "1")).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let later = rig.execute(set("b", "1")).await.unwrap_err();
    assert!(matches!(later, Error::Poisoned { .. }), "{later}");
}

#[tokio::test]
async fn not_leader_passes_through_with_the_leader_hint() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.follower_view(Some("node-1:4501".into())))
        .await
        .unwrap();
    let err = rig.execute(set("a", "1")).await.unwrap_err();
    match err {
        Error::NotLeader { leader } => assert_eq!(leader.as_deref(), Some("node-1:4501")),
        other => panic!("expected NotLeader, got {other}"),
    }
    assert_eq!(log.committed(), 0);
}

#[tokio::test]
async fn a_follower_applies_committed_entries_as_they_arrive() {
    let log = MemLog::new();
    let leader = Rig::open(Kv::default(), log.clone()).await.unwrap();
    let follower = Rig::open(Kv::default(), log.follower_view(None))
        .await
        .unwrap();
    for i in 0..50 {
        leader
            .execute(set(&format!("k{}", i % 7), &i.to_string()))
            .await
            .unwrap();
    }
    let v = follower.read_barrier().await.unwrap();
    assert_eq!(v, 50);
    until(|| follower.applied_version() == 50).await;
    assert_eq!(follower.state().await.map, leader.state().await.map);
}

/// A node that becomes leader holding committed entries it has not applied (entries of an
/// earlier term, an ambiguous append that landed) applies them on its own: a read barrier on a
/// read-only workload must not wait for a write to trigger the catch-up.
#[tokio::test]
async fn a_leader_applies_entries_committed_from_elsewhere_without_a_write() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    rig.execute(set("a", "1")).await.unwrap();
    // Another writer's entries (as a previous leader's, committed by this node's election).
    log.append(
        vec![set("b", "2"), set("c", "3")],
        rig_core::Durability::Local,
    )
    .await
    .unwrap();

    let barrier = tokio::time::timeout(std::time::Duration::from_secs(10), rig.read_barrier())
        .await
        .expect("the read barrier waited for a write that never came")
        .unwrap();
    assert_eq!(barrier, 3);
    let c = rig.state().await.map.get("c").cloned();
    assert_eq!(c.as_deref(), Some("3"));
    // And the engine keeps writing after the catch-up.
    rig.execute(set("d", "4")).await.unwrap();
    assert_eq!(rig.applied_version(), 4);
}

#[tokio::test]
async fn snapshot_compacts_and_a_restart_restores_it() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    for i in 0..20 {
        rig.execute(set(&format!("k{i}"), "x").with_client(1, i + 1))
            .await
            .unwrap();
    }
    assert_eq!(rig.snapshot_now().await.unwrap(), 20);
    assert_eq!(
        log.first_version(),
        21,
        "entries at or below the snapshot were dropped"
    );
    rig.execute(set("after", "y")).await.unwrap();
    rig.close().await.unwrap();
    assert!(matches!(
        rig.execute(set("z", "1")).await,
        Err(Error::Closed)
    ));

    let reopened = Rig::open(Kv::default(), log.reopen()).await.unwrap();
    let state = reopened.state().await.clone();
    assert_eq!(state.map.len(), 21);
    assert_eq!(
        state.applies, 1,
        "only the entry after the snapshot was replayed"
    );
    // The client table survived in the snapshot: a retry still gets its original answer.
    let retry = reopened
        .execute(set("k19", "x").with_client(1, 20))
        .await
        .unwrap();
    assert_eq!(retry.version, 20);
}

#[tokio::test]
async fn the_snapshot_policy_triggers_on_its_own() {
    let log = MemLog::new();
    let options = Options {
        snapshot: SnapshotPolicy {
            every_ops: Some(10),
            every_bytes: None,
        },
        ..Default::default()
    };
    let rig = Rig::open_with(Kv::default(), log.clone(), options)
        .await
        .unwrap();
    for i in 0..25 {
        rig.execute(set("k", &i.to_string())).await.unwrap();
    }
    until(|| log.first_version() > 20).await;
    rig.close().await.unwrap();
    let snap = log
        .reopen()
        .load_snapshot()
        .await
        .unwrap()
        .expect("a snapshot was saved");
    assert!(snap.version >= 20);
}

#[tokio::test]
async fn a_corrupt_snapshot_is_reported_not_restored() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    rig.execute(set("a", "1")).await.unwrap();
    rig.snapshot_now().await.unwrap();
    rig.close().await.unwrap();
    let mut snap = log.reopen().load_snapshot().await.unwrap().unwrap();
    let mut bytes = snap.data.to_vec();
    bytes[6] ^= 0x10;
    snap.data = bytes.into();
    log.reopen().save_snapshot(snap).await.unwrap();
    let err = Rig::open(Kv::default(), log.reopen()).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}
