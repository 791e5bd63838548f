//! Manual failover: a promoted replica takes writes, fences the old primary, and the old
//! primary rejoins as a replica.

mod support;

use rig_core::{Durability, Error, Log, Role};
use rig_repl_2pc::Mode;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_replica_fences_the_old_primary() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let primary = open_primary(&pd, replica.local_addr(), strict())
        .await
        .unwrap();
    append_each(&primary, ops("a", 0..5)).await.unwrap();

    let epoch = replica.promote(vec![]).await.unwrap();
    assert_eq!(epoch, 2);
    assert_eq!(replica.role(), Role::Leader);
    // The old primary's next round reaches the new primary, which refuses it.
    let err = primary
        .append(ops("late", 0..1), Durability::Replicated)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fenced { .. }), "{err:?}");
    assert_eq!(primary.role(), Role::Follower { leader: None });
    assert_eq!(primary.status().mode, Mode::Fenced);
    let again = primary
        .append(ops("later", 0..1), Durability::Replicated)
        .await;
    assert!(matches!(again, Err(Error::Fenced { .. })));

    // The new primary has every acknowledged op and none of the refused one.
    assert_eq!(
        append_each(&replica, ops("b", 0..2)).await.unwrap(),
        vec![6, 7]
    );
    let data = committed_data(&replica, 7).await;
    assert_eq!(data[..5], ["a-0", "a-1", "a-2", "a-3", "a-4"]);
    assert_eq!(data[5..], ["b-0", "b-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_primary_rejoins_as_a_replica() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let primary = open_primary(&pd, replica.local_addr(), strict())
        .await
        .unwrap();
    append_each(&primary, ops("a", 0..3)).await.unwrap();
    primary.halt().await; // the primary's machine dies

    // Restart it as a replica, then promote the old replica towards it.
    let old = support::open_replica(&pd).await.unwrap();
    replica
        .promote(vec![old.local_addr().to_string()])
        .await
        .unwrap();
    assert_eq!(
        append_each(&replica, ops("b", 0..2)).await.unwrap(),
        vec![4, 5]
    );
    let data = committed_data(&old, 5).await;
    assert_eq!(data, ["a-0", "a-1", "a-2", "b-0", "b-1"]);
    assert!(matches!(old.role(), Role::Follower { leader: Some(_) }));
    let err = old.append(ops("x", 0..1), Durability::Replicated).await;
    assert!(matches!(err, Err(Error::NotLeader { leader: Some(_) })));
    let status = replica.status();
    assert_eq!((status.mode, status.epoch), (Mode::Sync, 2));
    // A closed node says it stopped, not that another primary fenced it.
    replica.close().await.unwrap();
    assert_eq!(replica.status().mode, Mode::Stopped);
}
