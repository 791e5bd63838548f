//! Against a real S3-compatible server (moto, started by `scripts/with-moto.sh`, which exports
//! `RIG_S3_TEST_ENDPOINT` and `RIG_S3_BUCKET`). Without the endpoint these tests FAIL, unless
//! `RIG_S3_TESTS=skip` says explicitly to skip them: CI must never skip them silently.

mod common;

use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use rig_core::{Durability, Error, Log, Snapshot};
use rig_log_s3::{S3Log, StoreConfig};

use common::{op, options};

/// The moto store, `None` only when `RIG_S3_TESTS=skip` is set.
fn store() -> Option<Arc<dyn ObjectStore>> {
    let endpoint = std::env::var("RIG_S3_TEST_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        if std::env::var("RIG_S3_TESTS").as_deref() == Ok("skip") {
            eprintln!("s3 tests skipped: RIG_S3_TESTS=skip");
            return None;
        }
        panic!(
            "RIG_S3_TEST_ENDPOINT is not set: run the S3 tests against a live server with \
             `scripts/with-moto.sh cargo test -p rig-log-s3` (needs `pip install 'moto[server]'`), \
             or set RIG_S3_TESTS=skip to skip them explicitly"
        );
    };
    let cfg = StoreConfig {
        bucket: Some(std::env::var("RIG_S3_BUCKET").unwrap_or_else(|_| "rig-test".into())),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: true,
        virtual_hosted_style: false,
    };
    Some(cfg.build().expect("build the S3 store"))
}

async fn keys(store: &dyn ObjectStore, dir: &str) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list(Some(&Path::from(dir)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    keys.sort();
    keys
}

/// moto answers a lost `If-None-Match: *` and a stale `If-Match` with 412, which object_store
/// reports as `AlreadyExists` and `Precondition`: the two conditions fencing relies on.
#[tokio::test]
async fn moto_conditional_writes_answer_412() {
    common::bounded("moto_conditional_writes_answer_412", async {
        let Some(store) = store() else { return };
        let path = Path::from("cond/object");
        let create = || PutOptions::from(PutMode::Create);
        let first = store
            .put_opts(&path, "one".into(), create())
            .await
            .expect("create");
        match store.put_opts(&path, "two".into(), create()).await {
            Err(object_store::Error::AlreadyExists { .. }) => {}
            other => {
                panic!("create over an existing object: expected AlreadyExists, got {other:?}")
            }
        }
        let v1 = UpdateVersion::from(first);
        let second = store
            .put_opts(
                &path,
                "three".into(),
                PutOptions::from(PutMode::Update(v1.clone())),
            )
            .await
            .expect("update with the current e-tag");
        match store
            .put_opts(&path, "four".into(), PutOptions::from(PutMode::Update(v1)))
            .await
        {
            Err(object_store::Error::Precondition { .. }) => {}
            other => panic!("update with a stale e-tag: expected Precondition, got {other:?}"),
        }
        let now = store.get(&path).await.unwrap();
        assert_eq!(now.meta.e_tag, second.e_tag);
        assert_eq!(now.bytes().await.unwrap(), "three");
    })
    .await;
}

/// Append at both durabilities, snapshot, close, reopen: everything is there; a new instance
/// restores the snapshot and replays the log after it.
#[tokio::test]
async fn moto_round_trip_restart_and_restore() {
    common::bounded("moto_round_trip_restart_and_restore", async {
        let Some(store) = store() else { return };
        let log = S3Log::open(store.clone(), options("round-trip"))
            .await
            .unwrap();
        assert_eq!(
            log.append(vec![op(1), op(2)], Durability::Local)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            log.append(vec![op(3)], Durability::Applied).await.unwrap(),
            3
        );
        assert_eq!(log.append(vec![op(4)], Durability::Local).await.unwrap(), 4);
        log.save_snapshot(Snapshot {
            version: 2,
            data: "two".into(),
        })
        .await
        .unwrap();
        log.close().await.unwrap();
        let log = S3Log::open(store.clone(), options("round-trip"))
            .await
            .unwrap();
        assert_eq!(log.committed(), 4);
        let snap = log.load_snapshot().await.unwrap().expect("snapshot");
        assert_eq!((snap.version, &snap.data[..]), (2, &b"two"[..]));
        let after: Vec<_> = log
            .read(3, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.op)
            .collect();
        assert_eq!(after, vec![op(3), op(4)]);
        assert_eq!(log.append(vec![op(5)], Durability::Local).await.unwrap(), 5);
        let objects = keys(store.as_ref(), "round-trip").await;
        for want in [
            "round-trip/LATEST",
            "round-trip/WRITER",
            "round-trip/SNAPSHOT/0000000000000002",
            "round-trip/LOG/0000000000000005",
        ] {
            assert!(
                objects.iter().any(|k| k == want),
                "{want} missing from {objects:?}"
            );
        }
    })
    .await;
}

/// Two instances on one bucket: the second fences the first, which gets `Fenced`; every
/// acknowledged op survives a reopen.
#[tokio::test]
async fn moto_two_instances_racing() {
    common::bounded("moto_two_instances_racing", async {
        let Some(store) = store() else { return };
        let a = S3Log::open(store.clone(), options("race")).await.unwrap();
        let mut acked = Vec::new();
        for i in 1..=5u64 {
            acked.push((
                a.append(vec![op(i)], Durability::Local).await.unwrap(),
                op(i),
            ));
        }
        // Appends in flight on `a` while `b` opens: each either lands before the fence (and `b`
        // replays it) or fails with Fenced.
        let in_flight: Vec<_> = (6..=10u64)
            .map(|i| (i, a.append(vec![op(i)], Durability::Local)))
            .collect();
        let b = S3Log::open(store.clone(), options("race")).await.unwrap();
        let mut fenced = 0;
        for (i, f) in in_flight {
            match f.await {
                Ok(v) => acked.push((v, op(i))),
                Err(Error::Fenced { .. }) => fenced += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        match a.append(vec![op(99)], Durability::Local).await {
            Err(Error::Fenced { .. }) => {}
            other => panic!("the old instance must be fenced, got {other:?}"),
        }
        let next = b.committed() + 1;
        assert_eq!(
            b.append(vec![op(100)], Durability::Local).await.unwrap(),
            next
        );
        acked.push((next, op(100)));
        b.close().await.unwrap();
        let c = S3Log::open(store, options("race")).await.unwrap();
        let all = c.read(1, 1000).await.unwrap();
        for (v, o) in &acked {
            assert_eq!(
                &all[(*v - 1) as usize].op,
                o,
                "acknowledged op at {v} lost ({fenced} fenced)"
            );
        }
    })
    .await;
}

/// Compaction deletes batches and snapshots below the retained snapshot on a real server.
#[tokio::test]
async fn moto_cleanup_below_the_snapshot() {
    common::bounded("moto_cleanup_below_the_snapshot", async {
        let Some(store) = store() else { return };
        let log = S3Log::open(store.clone(), options("cleanup"))
            .await
            .unwrap();
        for i in 1..=6u64 {
            log.append(vec![op(i)], Durability::Local).await.unwrap();
        }
        log.save_snapshot(Snapshot {
            version: 3,
            data: "3".into(),
        })
        .await
        .unwrap();
        log.save_snapshot(Snapshot {
            version: 5,
            data: "5".into(),
        })
        .await
        .unwrap();
        log.compact(5).await.unwrap();
        assert_eq!(
            keys(store.as_ref(), "cleanup/LOG").await,
            ["cleanup/LOG/0000000000000006"]
        );
        assert_eq!(
            keys(store.as_ref(), "cleanup/SNAPSHOT").await,
            ["cleanup/SNAPSHOT/0000000000000005"]
        );
        log.close().await.unwrap();
        let log = S3Log::open(store, options("cleanup")).await.unwrap();
        assert_eq!((log.first_version(), log.committed()), (6, 6));
        assert_eq!(log.load_snapshot().await.unwrap().unwrap().version, 5);
    })
    .await;
}
