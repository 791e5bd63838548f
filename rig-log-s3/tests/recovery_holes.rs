//! Replay follows the chain of batches and reports a hole instead of skipping it; damaged objects
//! are `Corrupt`; compaction leaves a log that reopens.

mod common;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rig_core::{Durability, Error, Log, Snapshot};
use rig_log_s3::S3Log;

use common::{memory, op, options};

async fn keys(store: &dyn ObjectStore, dir: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(Some(&Path::from(dir)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

/// Batches 1..3, 4..6 and 7, each acknowledged before the next.
async fn three_batches(store: &std::sync::Arc<dyn ObjectStore>) {
    let log = S3Log::open(store.clone(), options("app")).await.unwrap();
    log.append(vec![op(1), op(2), op(3)], Durability::Local)
        .await
        .unwrap();
    log.append(vec![op(4), op(5), op(6)], Durability::Local)
        .await
        .unwrap();
    log.append(vec![op(7)], Durability::Local).await.unwrap();
    log.close().await.unwrap();
    assert_eq!(
        keys(store.as_ref(), "app/LOG").await,
        [
            "app/LOG/0000000000000001",
            "app/LOG/0000000000000004",
            "app/LOG/0000000000000007"
        ]
    );
}

fn expect_corrupt(r: rig_core::Result<S3Log>) -> (String, String) {
    match r {
        Err(Error::Corrupt { location, reason }) => (location, reason),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Deleting the middle batch makes reopening fail with `Corrupt` naming the missing key range.
#[tokio::test]
async fn replay_detects_a_deleted_middle_batch() {
    common::bounded("replay_detects_a_deleted_middle_batch", async {
        let store = memory();
        three_batches(&store).await;
        store
            .delete(&Path::from("app/LOG/0000000000000004"))
            .await
            .unwrap();
        let (location, reason) = expect_corrupt(S3Log::open(store, options("app")).await);
        assert_eq!(location, "app/LOG/0000000000000004");
        assert!(reason.contains("versions 4..6"), "{reason}");
        assert!(reason.contains("app/LOG/0000000000000007"), "{reason}");
    })
    .await;
}

/// Without a snapshot the log must start at version 1.
#[tokio::test]
async fn replay_detects_a_deleted_first_batch() {
    common::bounded("replay_detects_a_deleted_first_batch", async {
        let store = memory();
        three_batches(&store).await;
        store
            .delete(&Path::from("app/LOG/0000000000000001"))
            .await
            .unwrap();
        let (location, reason) = expect_corrupt(S3Log::open(store, options("app")).await);
        assert_eq!(location, "app/LOG/0000000000000001");
        assert!(reason.contains("versions 1..3"), "{reason}");
    })
    .await;
}

/// A flipped bit in a batch, or an unknown format version, is `Corrupt` at that key.
#[tokio::test]
async fn damaged_or_unknown_batches_are_corrupt() {
    common::bounded("damaged_or_unknown_batches_are_corrupt", async {
        for (offset, expect) in [(60usize, "checksum"), (8, "unknown")] {
            let store = memory();
            three_batches(&store).await;
            let path = Path::from("app/LOG/0000000000000004");
            let mut bytes = store
                .get(&path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec();
            if offset == 8 {
                bytes[8] = 2; // the format byte
            } else {
                bytes[offset] ^= 0x10;
            }
            store.put(&path, bytes.into()).await.unwrap();
            let (location, reason) = expect_corrupt(S3Log::open(store, options("app")).await);
            assert_eq!(location, "app/LOG/0000000000000004");
            assert!(reason.contains(expect), "{reason}");
        }
    })
    .await;
}

/// Compaction deletes batches entirely below the snapshot and older snapshots; the log reopens
/// from the snapshot and the batches after it.
#[tokio::test]
async fn compaction_deletes_old_objects_and_the_log_reopens() {
    common::bounded(
        "compaction_deletes_old_objects_and_the_log_reopens",
        async {
            let store = memory();
            three_batches(&store).await;
            let log = S3Log::open(store.clone(), options("app")).await.unwrap();
            log.save_snapshot(Snapshot {
                version: 4,
                data: "at 4".into(),
            })
            .await
            .unwrap();
            log.compact(4).await.unwrap();
            assert_eq!(
                log.first_version(),
                4,
                "batch 4..6 straddles the snapshot and stays"
            );
            assert_eq!(
                keys(store.as_ref(), "app/LOG").await,
                [
                    "app/LOG/0000000000000004",
                    "app/LOG/0000000000000007",
                    "app/LOG/0000000000000008"
                ]
            );
            assert!(matches!(
                log.read(3, 1).await,
                Err(Error::InvalidArgument(_))
            ));
            log.append(vec![op(8)], Durability::Local).await.unwrap();
            log.save_snapshot(Snapshot {
                version: 7,
                data: "at 7".into(),
            })
            .await
            .unwrap();
            // An older snapshot never moves LATEST back.
            log.save_snapshot(Snapshot {
                version: 5,
                data: "at 5".into(),
            })
            .await
            .unwrap();
            assert_eq!(log.load_snapshot().await.unwrap().unwrap().version, 7);
            assert!(matches!(
                log.compact(8).await,
                Err(Error::InvalidArgument(_))
            ));
            log.compact(7).await.unwrap();
            log.close().await.unwrap();
            assert_eq!(
                keys(store.as_ref(), "app/LOG").await,
                ["app/LOG/0000000000000008"]
            );
            assert_eq!(
                keys(store.as_ref(), "app/SNAPSHOT").await,
                ["app/SNAPSHOT/0000000000000007"]
            );
            let log = S3Log::open(store, options("app")).await.unwrap();
            assert_eq!((log.first_version(), log.committed()), (8, 8));
            assert_eq!(log.read(8, 5).await.unwrap()[0].op, op(8));
            assert_eq!(log.load_snapshot().await.unwrap().unwrap().data, "at 7");
        },
    )
    .await;
}

/// A snapshot whose bytes are damaged is `Corrupt`, never wrong data.
#[tokio::test]
async fn a_damaged_snapshot_is_corrupt() {
    common::bounded("a_damaged_snapshot_is_corrupt", async {
        let store = memory();
        three_batches(&store).await;
        let log = S3Log::open(store.clone(), options("app")).await.unwrap();
        log.save_snapshot(Snapshot {
            version: 6,
            data: "state at six".into(),
        })
        .await
        .unwrap();
        let path = Path::from("app/SNAPSHOT/0000000000000006");
        let mut bytes = store
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        bytes[30] ^= 1;
        store.put(&path, bytes.into()).await.unwrap();
        match log.load_snapshot().await {
            Err(Error::Corrupt { location, .. }) => assert_eq!(location, path.to_string()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    })
    .await;
}
