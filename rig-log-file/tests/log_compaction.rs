//! Snapshots (keep K, checksummed) and compaction of whole segments.
// Tests inspect the directory directly, behind the log's back.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{append_n, op, read_all, rt, small};
use rig_core::{Durability, Error, Log, Snapshot};
use rig_log_file::{FileLog, FileLogOptions};

fn names(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| pred(n))
        .collect();
    v.sort();
    v
}

fn snap(version: u64) -> Snapshot {
    Snapshot {
        version,
        data: Bytes::from(format!("state at {version}")),
    }
}

#[test]
fn snapshots_keep_the_newest_k_and_load_the_newest() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let opts = FileLogOptions {
            keep_snapshots: 2,
            ..small()
        };
        let log = FileLog::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(log.load_snapshot().await.unwrap(), None);
        for v in [100, 200, 300, 400] {
            log.save_snapshot(snap(v)).await.unwrap();
        }
        // An older snapshot than the newest is not written.
        log.save_snapshot(snap(50)).await.unwrap();
        let snaps = names(dir.path(), |n| n.starts_with("snap-"));
        assert_eq!(
            snaps,
            vec![
                "snap-00000000000000000300.snap",
                "snap-00000000000000000400.snap"
            ]
        );
        assert_eq!(log.load_snapshot().await.unwrap(), Some(snap(400)));
        log.close().await.unwrap();
        let log = FileLog::open(dir.path(), opts).unwrap();
        assert_eq!(log.load_snapshot().await.unwrap(), Some(snap(400)));
        // With no entries, versions continue after the snapshot.
        assert_eq!(log.committed(), 400);
        assert_eq!(
            log.append(vec![op(1)], Durability::Local).await.unwrap(),
            401
        );
    });
}

#[test]
fn compaction_drops_whole_segments_and_reuses_their_files() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        append_n(&log, 1, 2000).await;
        let before = names(dir.path(), |n| {
            n.ends_with(".seg") && !n.starts_with("free-")
        });
        assert!(
            matches!(log.compact(1500).await, Err(Error::InvalidArgument(_))),
            "no snapshot yet"
        );
        log.save_snapshot(snap(1500)).await.unwrap();
        log.compact(1500).await.unwrap();
        let first = log.first_version();
        assert!(first > 1 && first <= 1501, "first version {first}");
        let after = names(dir.path(), |n| {
            n.ends_with(".seg") && !n.starts_with("free-")
        });
        assert!(after.len() < before.len(), "{before:?} -> {after:?}");
        let free = names(dir.path(), |n| n.starts_with("free-"));
        assert_eq!(
            free.len(),
            2,
            "two compacted files kept for reuse: {free:?}"
        );
        assert!(matches!(
            log.read(first - 1, 1).await,
            Err(Error::InvalidArgument(_))
        ));
        let rest = read_all(&log, first).await;
        assert_eq!(rest.first().unwrap().version, first);
        assert_eq!(rest.last().unwrap().version, 2000);

        // New segments reuse the free files. The first roll may use a spare prepared before the
        // compaction; the second one's spare was prepared after it, from the free pool.
        append_n(&log, 2001, 1000).await;
        assert!(names(dir.path(), |n| n.starts_with("free-")).len() < 2);
        log.close().await.unwrap();

        let log = FileLog::open(dir.path(), small()).unwrap();
        assert_eq!((log.first_version(), log.committed()), (first, 3000));
        let all = read_all(&log, first).await;
        assert_eq!(all.len() as u64, 3000 - first + 1);
        assert!(all
            .iter()
            .zip(first..)
            .all(|(p, v)| p.version == v && p.op == op(v)));
    });
}

#[test]
fn compacting_everything_keeps_the_end_of_the_log() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), small()).unwrap();
        append_n(&log, 1, 300).await;
        log.save_snapshot(snap(300)).await.unwrap();
        log.compact(300).await.unwrap();
        assert!(log.first_version() <= 300);
        drop(log);
        let log = FileLog::open(dir.path(), small()).unwrap();
        assert_eq!(log.committed(), 300);
        assert_eq!(
            log.append(vec![op(301)], Durability::Local).await.unwrap(),
            301
        );
    });
}
