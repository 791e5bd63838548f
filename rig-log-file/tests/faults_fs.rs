//! Faults injected through the `Fs` seam: a failed fsync poisons; a full disk fails cleanly and
//! the log works again once space is freed; a short write leaves no trace.

mod common;

use std::sync::atomic::Ordering;

use common::fault_fs::FaultFs;
use common::{op, read_all, rt, small};
use rig_core::{Durability, Error, Log};
use rig_log_file::FileLog;

fn is_disk_full(e: &Error) -> bool {
    matches!(e, Error::Unavailable { reason } if reason.contains("disk full") && reason.contains(".seg"))
}

#[test]
fn a_failed_fsync_poisons_the_log_and_nothing_after_is_acknowledged() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (fs, faults) = FaultFs::create();
        let log = FileLog::open_with_fs(fs.clone(), dir.path(), small()).unwrap();
        assert_eq!(
            log.append(vec![op(1), op(2)], Durability::Local)
                .await
                .unwrap(),
            1
        );
        faults.fail_sync.store(true, Ordering::SeqCst);
        let failed = log.append(vec![op(3)], Durability::Local).await;
        assert!(
            matches!(&failed, Err(Error::Poisoned { cause }) if cause.contains("fdatasync")),
            "{failed:?}"
        );
        // Every later call fails, and the fsync is never retried.
        let syncs = faults.syncs.load(Ordering::SeqCst);
        assert!(matches!(
            log.append(vec![op(4)], Durability::Local).await,
            Err(Error::Poisoned { .. })
        ));
        assert!(matches!(
            log.append(vec![op(4)], Durability::Applied).await,
            Err(Error::Poisoned { .. })
        ));
        assert!(matches!(log.read(1, 1).await, Err(Error::Poisoned { .. })));
        assert!(matches!(
            log.wait_committed(10).await,
            Err(Error::Poisoned { .. })
        ));
        assert_eq!(faults.syncs.load(Ordering::SeqCst), syncs);
        drop(log);
        // A restart recovers what was durable.
        let log = FileLog::open_with_fs(fs, dir.path(), small()).unwrap();
        assert!(log.committed() >= 2);
        assert_eq!(
            log.read(1, 2)
                .await
                .unwrap()
                .iter()
                .map(|p| p.op.clone())
                .collect::<Vec<_>>(),
            vec![op(1), op(2)]
        );
    });
}

#[test]
fn one_fdatasync_covers_many_waiting_appends() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (fs, faults) = FaultFs::create();
        let log = FileLog::open_with_fs(fs, dir.path(), small()).unwrap();
        let before = faults.syncs.load(Ordering::SeqCst);
        // Issued back to back, before any is awaited: they queue while the writer syncs.
        let futs: Vec<_> = (1..=1000)
            .map(|i| log.append(vec![op(i)], Durability::Local))
            .collect();
        for (f, v) in futs.into_iter().zip(1..) {
            assert_eq!(f.await.unwrap(), v);
        }
        let syncs = faults.syncs.load(Ordering::SeqCst) - before;
        assert!(
            syncs > 0 && syncs < 500,
            "1000 appends took {syncs} fdatasyncs"
        );
    });
}

#[test]
fn a_full_disk_on_write_fails_the_batch_and_later_ones_then_recovers_without_a_gap() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (fs, faults) = FaultFs::create();
        let log = FileLog::open_with_fs(fs.clone(), dir.path(), small()).unwrap();
        assert_eq!(
            log.append(vec![op(1), op(2)], Durability::Local)
                .await
                .unwrap(),
            1
        );
        faults.disk_full.store(true, Ordering::SeqCst);
        let a = log.append(vec![op(3)], Durability::Local);
        let b = log.append(vec![op(4)], Durability::Applied);
        let (a, b) = (a.await, b.await);
        assert!(a.as_ref().is_err_and(is_disk_full), "{a:?}");
        assert!(b.as_ref().is_err_and(is_disk_full), "{b:?}");
        assert_eq!(log.committed(), 2);
        faults.disk_full.store(false, Ordering::SeqCst);
        // Space is back: versions continue right after the last acknowledged one.
        assert_eq!(log.append(vec![op(3)], Durability::Local).await.unwrap(), 3);
        assert_eq!(log.append(vec![op(4)], Durability::Local).await.unwrap(), 4);
        drop(log);
        let log = FileLog::open_with_fs(fs, dir.path(), small()).unwrap();
        assert_eq!(log.committed(), 4);
        let all = read_all(&log, 1).await;
        assert!(all
            .iter()
            .zip(1..)
            .all(|(p, v)| p.version == v && p.op == op(v)));
    });
}

#[test]
fn a_full_disk_while_preallocating_a_segment_fails_cleanly_and_recovers() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (fs, faults) = FaultFs::create();
        let log = FileLog::open_with_fs(fs.clone(), dir.path(), small()).unwrap();
        faults.prealloc_full.store(true, Ordering::SeqCst);
        // Append until a segment roll needs a new file (the spare prepared before the fault may
        // serve the first roll).
        let mut acked = 0u64;
        let failed_at = loop {
            assert!(acked < 2000, "no roll ever needed a new segment");
            match log.append(vec![op(acked + 1)], Durability::Local).await {
                Ok(v) => {
                    assert_eq!(v, acked + 1);
                    acked = v;
                }
                Err(e) => {
                    assert!(is_disk_full(&e), "{e}");
                    break acked + 1;
                }
            }
        };
        assert!(log
            .append(vec![op(failed_at)], Durability::Local)
            .await
            .is_err_and(|e| is_disk_full(&e)));
        assert_eq!(log.committed(), acked);
        faults.prealloc_full.store(false, Ordering::SeqCst);
        assert_eq!(
            log.append(vec![op(failed_at)], Durability::Local)
                .await
                .unwrap(),
            failed_at
        );
        drop(log);
        let log = FileLog::open_with_fs(fs, dir.path(), small()).unwrap();
        assert_eq!(log.committed(), failed_at);
        let all = read_all(&log, 1).await;
        assert!(all
            .iter()
            .zip(1..)
            .all(|(p, v)| p.version == v && p.op == op(v)));
    });
}

#[test]
fn a_short_write_is_erased_and_its_versions_reused() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (fs, faults) = FaultFs::create();
        let log = FileLog::open_with_fs(fs.clone(), dir.path(), small()).unwrap();
        assert_eq!(log.append(vec![op(1)], Durability::Local).await.unwrap(), 1);
        faults.short_write.store(true, Ordering::SeqCst);
        let r = log
            .append(vec![op(2), op(3), op(4)], Durability::Local)
            .await;
        assert!(r.as_ref().is_err_and(is_disk_full), "{r:?}");
        assert_eq!(log.append(vec![op(2)], Durability::Local).await.unwrap(), 2);
        drop(log);
        // Nothing of the half-written batch survives: the log ends at 2 and verifies.
        let log = FileLog::open_with_fs(fs, dir.path(), small()).unwrap();
        assert_eq!(log.committed(), 2);
        assert_eq!(
            read_all(&log, 1)
                .await
                .iter()
                .map(|p| p.op.clone())
                .collect::<Vec<_>>(),
            vec![op(1), op(2)]
        );
    });
}
