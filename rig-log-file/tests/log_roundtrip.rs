//! Appends, reads and reopens across segment boundaries.
// Tests inspect and damage the files directly, behind the log's back.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{append_n, op, read_all, rt, small};
use rig_core::{Durability, Error, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

#[test]
fn appends_read_back_in_order_across_segments_and_reopen() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        assert_eq!((log.committed(), log.first_version()), (0, 1));
        let versions = append_n(&log, 1, 500).await;
        assert_eq!(versions, (1..=500).collect::<Vec<_>>());
        let batch: Vec<Operation> = (501..=600).map(op).collect();
        assert_eq!(log.append(batch, Durability::Local).await.unwrap(), 501);
        assert_eq!(log.committed(), 600);
        let all = read_all(&log, 1).await;
        assert_eq!(all.len(), 600);
        for (i, p) in all.iter().enumerate() {
            assert_eq!(p.version, i as u64 + 1);
            assert_eq!(p.op, op(i as u64 + 1));
        }
        // A read in the middle, bounded by max.
        let mid = log.read(250, 7).await.unwrap();
        assert_eq!(
            mid.iter().map(|p| p.version).collect::<Vec<_>>(),
            (250..257).collect::<Vec<_>>()
        );
        assert!(log.read(601, 10).await.unwrap().is_empty());
        let segments = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count();
        assert!(
            segments >= 3,
            "600 records of about 31 bytes need three 8 KiB segments, saw {segments}"
        );
        log.close().await.unwrap();
        assert!(matches!(log.read(1, 1).await, Err(Error::Closed)));
        assert!(matches!(
            log.append(vec![op(1)], Durability::Local).await,
            Err(Error::Closed)
        ));

        let log = FileLog::open(dir.path(), small()).unwrap();
        assert_eq!((log.committed(), log.first_version()), (600, 1));
        assert_eq!(read_all(&log, 1).await, all);
        assert_eq!(
            log.append(vec![op(601)], Durability::Local).await.unwrap(),
            601
        );
        assert_eq!(log.read(601, 1).await.unwrap()[0].op, op(601));
        log.close().await.unwrap();
    });
}

#[test]
fn applied_durability_resolves_and_is_readable() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        let a = log.append(vec![op(1), op(2)], Durability::Applied);
        let b = log.append(vec![op(3)], Durability::Replicated); // clamped to Local
        assert_eq!(a.await.unwrap(), 1);
        assert_eq!(b.await.unwrap(), 3);
        assert_eq!(log.strongest_durability(), Durability::Local);
        assert_eq!(log.read(1, 10).await.unwrap().len(), 3);
        assert_eq!(log.wait_committed(2).await.unwrap(), 3);
        // Dropping without close still flushes and releases the directory.
        drop(log);
        let log = FileLog::open(dir.path(), small()).unwrap();
        assert_eq!(log.committed(), 3);
    });
}

#[test]
fn versions_follow_call_order_not_await_order() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        let first = log.append(vec![op(1), op(2), op(3)], Durability::Local);
        let second = log.append(vec![op(4)], Durability::Applied);
        assert_eq!(second.await.unwrap(), 4);
        assert_eq!(first.await.unwrap(), 1);
    });
}

#[test]
fn bad_arguments_are_refused_without_using_a_version() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        assert!(matches!(
            log.append(vec![], Durability::Local).await,
            Err(Error::InvalidArgument(_))
        ));
        let huge = Operation::new("big", vec![7u8; 9000]);
        assert!(matches!(
            log.append(vec![huge], Durability::Local).await,
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(log.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        // A record just under the segment size fits in a fresh segment.
        let big = Operation::new("big", vec![7u8; 8000]);
        assert_eq!(
            log.append(vec![big.clone(), big.clone()], Durability::Local)
                .await
                .unwrap(),
            2
        );
        assert_eq!(log.read(3, 1).await.unwrap()[0].op, big);
        assert!(FileLog::open(
            dir.path().join("x"),
            FileLogOptions {
                segment_size: 100,
                ..Default::default()
            }
        )
        .is_err());
    });
}
