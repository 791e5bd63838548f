//! Read replicas (`S3Log::open_follower`) and point-in-time restore (`S3Log::open_at`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use rig_core::doc_support::{add, Counters};
use rig_core::{Durability, Error, Log, Rig, Role};
use rig_log_s3::{S3Follower, S3Log, S3LogOptions};

use common::{memory, op, options};

fn follower_options(prefix: &str) -> S3LogOptions {
    S3LogOptions {
        follower_poll_interval: Duration::from_millis(5),
        ..options(prefix)
    }
}

/// The `i`-th counter operation (versions from 1): adds `i` to counter `c{i % 3}`.
fn counter_op(i: u64) -> rig_core::Operation {
    add(&format!("c{}", i % 3), i as i64)
}

/// The counters after operations `1..=v`.
fn expected(v: u64) -> [i64; 3] {
    let mut c = [0i64; 3];
    for i in 1..=v {
        c[(i % 3) as usize] += i as i64;
    }
    c
}

async fn counters<L: Log>(rig: &Rig<Counters, L>) -> [i64; 3] {
    let s = rig.state().await;
    [s.get("c0"), s.get("c1"), s.get("c2")]
}

/// Waits (polling; the test is bounded) until `rig` has applied `v`.
async fn wait_applied<L: Log>(rig: &Rig<Counters, L>, v: u64) {
    while rig.applied_version() < v {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn open_follower(store: &Arc<dyn ObjectStore>, prefix: &str) -> S3Follower {
    S3Log::open_follower(store.clone(), follower_options(prefix))
        .await
        .unwrap()
}

/// A follower `Rig` opened before and after writes converges to the writer's state, answers
/// writes with `NotLeader`, and keeps up across a snapshot and compaction on the writer.
#[tokio::test]
async fn follower_rig_converges_to_the_writer_and_refuses_writes() {
    common::bounded(
        "follower_rig_converges_to_the_writer_and_refuses_writes",
        async {
            let store = memory();
            let writer = Rig::open(
                Counters::default(),
                S3Log::open(store.clone(), options("app")).await.unwrap(),
            )
            .await
            .unwrap();
            for i in 1..=5 {
                writer.execute(counter_op(i)).await.unwrap();
            }
            let follower = Rig::open(Counters::default(), open_follower(&store, "app").await)
                .await
                .unwrap();
            assert_eq!(follower.log().role(), Role::Follower { leader: None });
            assert_eq!(
                follower.applied_version(),
                5,
                "replays what is there at open"
            );
            assert_eq!(counters(&follower).await, expected(5));

            for i in 6..=40 {
                writer.execute(counter_op(i)).await.unwrap();
            }
            wait_applied(&follower, 40).await;
            assert_eq!(counters(&follower).await, expected(40));
            assert_eq!(counters(&follower).await, counters(&writer).await);

            match follower.execute(counter_op(41)).await {
                Err(Error::NotLeader { leader: None }) => {}
                other => panic!("expected NotLeader, got {other:?}"),
            }
            assert!(matches!(
                follower
                    .log()
                    .append(vec![op(1)], Durability::Applied)
                    .await,
                Err(Error::NotLeader { .. })
            ));

            // The writer snapshots and compacts; a follower opened now starts from the snapshot and
            // the running one keeps tailing.
            writer.snapshot_now().await.unwrap();
            for i in 41..=50 {
                writer.execute(counter_op(i)).await.unwrap();
            }
            let late = Rig::open(Counters::default(), open_follower(&store, "app").await)
                .await
                .unwrap();
            wait_applied(&follower, 50).await;
            wait_applied(&late, 50).await;
            assert_eq!(counters(&follower).await, expected(50));
            assert_eq!(counters(&late).await, expected(50));
            assert_eq!(
                late.log().first_version(),
                41,
                "the late follower starts after the snapshot"
            );
            // A follower never wrote: the writer epoch is still the writer's.
            let writer_epoch = writer.log().epoch();
            let again = S3Log::open(store.clone(), options("app")).await.unwrap();
            assert_eq!(again.epoch(), writer_epoch + 1);
        },
    )
    .await;
}

/// A second writer fences the first; the follower follows the chain into the new writer's
/// batches and ends with exactly the acknowledged ops, in order.
#[tokio::test]
async fn follower_follows_a_writer_takeover() {
    common::bounded("follower_follows_a_writer_takeover", async {
        let store = memory();
        let first = S3Log::open(store.clone(), options("app")).await.unwrap();
        for i in 1..=3 {
            first.append(vec![op(i)], Durability::Local).await.unwrap();
        }
        let follower = open_follower(&store, "app").await;
        assert_eq!(follower.wait_committed(0).await.unwrap(), 3);

        let second = S3Log::open(store.clone(), options("app")).await.unwrap();
        // The old writer's next batch hits the new writer's fence marker.
        assert!(matches!(
            first.append(vec![op(99)], Durability::Local).await,
            Err(Error::Fenced { .. })
        ));
        for i in 4..=6 {
            second.append(vec![op(i)], Durability::Local).await.unwrap();
        }
        let mut committed = follower.committed();
        while committed < 6 {
            committed = follower.wait_committed(committed).await.unwrap();
        }
        assert_eq!(committed, 6);
        let read = follower.read(1, 100).await.unwrap();
        let methods: Vec<_> = read.iter().map(|p| p.op.method.clone()).collect();
        assert_eq!(
            methods,
            (1..=6).map(|i| format!("op-{i}")).collect::<Vec<_>>()
        );
        assert_eq!(read.last().unwrap().version, 6);
    })
    .await;
}

/// Ops 1..=5, snapshot at 5 (compacts 1..=5), ops 6..=12: a point-in-time view rebuilds the
/// state at exactly the chosen version, and refuses versions it cannot rebuild.
#[tokio::test]
async fn open_at_rebuilds_the_state_at_exactly_the_version() {
    common::bounded("open_at_rebuilds_the_state_at_exactly_the_version", async {
        let store = memory();
        let writer = Rig::open(
            Counters::default(),
            S3Log::open(store.clone(), options("app")).await.unwrap(),
        )
        .await
        .unwrap();
        for i in 1..=5 {
            writer.execute(counter_op(i)).await.unwrap();
        }
        assert_eq!(writer.snapshot_now().await.unwrap(), 5);
        for i in 6..=12 {
            writer.execute(counter_op(i)).await.unwrap();
        }

        for v in [5, 6, 7, 9, 12] {
            let log = S3Log::open_at(store.clone(), options("app"), v)
                .await
                .unwrap();
            assert_eq!(log.fixed_version(), Some(v));
            let rig = Rig::open(Counters::default(), log).await.unwrap();
            assert_eq!(rig.applied_version(), v, "restore to {v}");
            assert_eq!(counters(&rig).await, expected(v), "restore to {v}");
            assert!(matches!(
                rig.execute(counter_op(100)).await,
                Err(Error::NotLeader { .. })
            ));
            // A later write on the writer does not move the view.
            rig.close().await.unwrap();
        }

        let err = |r: rig_core::Result<S3Follower>| match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        let m = err(S3Log::open_at(store.clone(), options("app"), 13).await);
        assert!(m.contains("ends at version 12"), "{m}");
        let m = err(S3Log::open_at(store.clone(), options("app"), 3).await);
        assert!(m.contains("oldest retained snapshot 5"), "{m}");

        // A snapshot at 12 compacts 6..=12 and snapshot 5 away: 7 can no longer be rebuilt.
        assert_eq!(writer.snapshot_now().await.unwrap(), 12);
        let m = err(S3Log::open_at(store.clone(), options("app"), 7).await);
        assert!(m.contains("oldest retained snapshot 12"), "{m}");
        let rig = Rig::open(
            Counters::default(),
            S3Log::open_at(store.clone(), options("app"), 12)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(counters(&rig).await, expected(12));
    })
    .await;
}

/// Without any snapshot, the log from version 1 rebuilds every version; once compacted, a
/// version below the retained snapshot is refused.
#[tokio::test]
async fn open_at_refuses_compacted_entries() {
    common::bounded("open_at_refuses_compacted_entries", async {
        let store = memory();
        let log = S3Log::open(store.clone(), options("app")).await.unwrap();
        for i in 1..=4 {
            log.append(vec![op(i)], Durability::Local).await.unwrap();
        }
        let at2 = S3Log::open_at(store.clone(), options("app"), 2)
            .await
            .unwrap();
        assert!(at2.load_snapshot().await.unwrap().is_none());
        assert_eq!(at2.committed(), 2);
        let read = at2.read(1, 100).await.unwrap();
        assert_eq!(read.len(), 2, "the view ends at 2");
        assert_eq!(read[1].op.method, "op-2");

        // Snapshots at 1 and 2, then compact through 2: batches 1 and 2 and snapshot 1 go.
        log.save_snapshot(rig_core::Snapshot {
            version: 1,
            data: "s1".into(),
        })
        .await
        .unwrap();
        log.save_snapshot(rig_core::Snapshot {
            version: 2,
            data: "s2".into(),
        })
        .await
        .unwrap();
        log.compact(2).await.unwrap();
        let at1 = S3Log::open_at(store.clone(), options("app"), 1).await;
        assert!(matches!(at1, Err(Error::InvalidArgument(_))), "{at1:?}");
        let at3 = S3Log::open_at(store.clone(), options("app"), 3)
            .await
            .unwrap();
        assert_eq!(at3.load_snapshot().await.unwrap().unwrap().version, 2);
        assert_eq!(at3.read(3, 10).await.unwrap()[0].op.method, "op-3");
    })
    .await;
}
