//! Snapshots, compaction, and reads below the first version.

use rig_core::{Error, Log, Snapshot};

use crate::conformance::util::{append_ok, assert_entry, create, op, ops, read_from};
use crate::conformance::{LogFactory, Outcome, Restart};

/// `load_snapshot` is `None` until a snapshot is saved, then returns it (byte for byte), and after
/// a newer one returns the newer one; saved snapshots survive a clean reopen.
pub async fn snapshot_save_load<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    assert!(
        log.load_snapshot().await.expect("load empty").is_none(),
        "{name}: no snapshot yet"
    );
    append_ok(&log, ops(1..11), "fill").await;
    let s3 = Snapshot {
        version: 3,
        data: (0..=255u8).collect::<Vec<_>>().into(),
    };
    log.save_snapshot(s3.clone()).await.expect("save 3");
    assert_eq!(
        log.load_snapshot().await.expect("load 3"),
        Some(s3),
        "{name}: snapshot 3"
    );
    let s7 = Snapshot {
        version: 7,
        data: vec![7u8; 70_000].into(),
    };
    log.save_snapshot(s7.clone()).await.expect("save 7");
    assert_eq!(
        log.load_snapshot().await.expect("load 7"),
        Some(s7.clone()),
        "{name}: newer"
    );
    log.close().await.expect("close");
    let log = factory.reopen(log, Restart::Clean).await.expect("reopen");
    assert_eq!(
        log.load_snapshot().await.expect("load"),
        Some(s7),
        "{name}: after reopen"
    );
    Outcome::Passed
}

/// Compacting through a snapshot's version keeps every entry above it readable (before and after
/// a clean reopen), leaves `committed()` alone, and `first_version()` never passes the snapshot.
pub async fn compaction_below_snapshot<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..21), "fill").await;
    log.save_snapshot(Snapshot {
        version: 12,
        data: "at 12".into(),
    })
    .await
    .expect("save");
    log.compact(12).await.expect("compact through the snapshot");
    let check = |log: &F::Log, when: &str| {
        let first = log.first_version();
        assert!(
            (1..=13).contains(&first),
            "{name}: first_version {first} {when}"
        );
        assert_eq!(log.committed(), 20, "{name}: committed {when}");
    };
    check(&log, "after compact");
    let tail = read_from(&log, 13).await;
    for (i, entry) in tail.iter().enumerate() {
        assert_entry(name, entry, 13 + i as u64, &op(13 + i as u64));
    }
    assert_eq!(
        append_ok(&log, vec![op(21)], "after compact").await,
        21,
        "{name}: next version"
    );
    log.close().await.expect("close");
    let log = factory.reopen(log, Restart::Clean).await.expect("reopen");
    check_reopened(&log, name).await;
    Outcome::Passed
}

async fn check_reopened(log: &impl Log, name: &str) {
    let first = log.first_version();
    assert!(
        (1..=13).contains(&first),
        "{name}: first_version {first} after reopen"
    );
    assert_eq!(log.committed(), 21, "{name}: committed after reopen");
    let all = read_from(log, first).await;
    for (i, entry) in all.iter().enumerate() {
        assert_entry(name, entry, first + i as u64, &op(first + i as u64));
    }
}

/// Reading below `first_version()` is `InvalidArgument`: version 0 always, and compacted
/// versions once compaction dropped them.
pub async fn read_below_first_version_errors<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    let invalid = |what: &str, r: rig_core::Result<Vec<rig_core::LogPayload>>| match r {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("{name}: {what}: expected InvalidArgument, got {other:?}"),
    };
    invalid("read(0) on an empty log", log.read(0, 1).await);
    append_ok(&log, ops(1..11), "fill").await;
    invalid("read(0)", log.read(0, 5).await);
    log.save_snapshot(Snapshot {
        version: 8,
        data: "at 8".into(),
    })
    .await
    .expect("save");
    log.compact(8).await.expect("compact");
    let first = log.first_version();
    if first > 1 {
        invalid("read below first_version", log.read(first - 1, 5).await);
    }
    assert_eq!(
        log.read(first, 100).await.expect("read first").len() as u64,
        11 - first
    );
    Outcome::Passed
}
