//! The engine over a 2PC pair: writes go through the primary's `Rig`; the replica's `Rig`
//! applies committed entries as they arrive, serves reads, and redirects writes.

mod support;

use rig_core::{Error, Operation, Rig};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_engine_follows_and_redirects() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let primary = open_primary(&pd, replica.local_addr(), strict())
        .await
        .unwrap();
    let primary_addr = primary.local_addr().to_string();
    let writer = Rig::open(Sum::default(), primary).await.unwrap();
    let follower = Rig::open(Sum::default(), replica).await.unwrap();

    for n in 1..=10 {
        writer
            .execute(Operation::json("add", &n).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(writer.state().await.total, 55);
    let err = follower
        .execute(Operation::json("add", &1).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotLeader { leader: Some(l) } if *l == primary_addr),
        "{err:?}"
    );
    // The follower applies what the primary committed (tailing, not polling a timer).
    while follower.state().await.version < 10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(follower.state().await.total, 55);
}
