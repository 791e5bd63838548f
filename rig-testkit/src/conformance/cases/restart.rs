//! Reopening after a clean close, a crash or a wipe, and using a closed log.

use rig_core::{Error, Log, Operation, Snapshot};

use crate::conformance::util::{
    append_ok, assert_entry, assert_gap_free, create, durability, lacks, op, ops, read_from,
};
use crate::conformance::{Capability, LogFactory, Outcome, Restart};

/// After `close` and a clean reopen, every entry, `committed()`, `first_version()` and the
/// snapshot are unchanged, and appending continues at the next version.
pub async fn clean_reopen_keeps_everything<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..4), "before reopen").await;
    append_ok(&log, ops(4..9), "before reopen").await;
    let snap = Snapshot {
        version: 5,
        data: "state@5".into(),
    };
    log.save_snapshot(snap.clone())
        .await
        .expect("save_snapshot");
    let before = read_from(&log, log.first_version()).await;
    let first = log.first_version();
    log.close().await.expect("close");
    let log = factory
        .reopen(log, Restart::Clean)
        .await
        .expect("reopen clean");
    assert_eq!(log.committed(), 8, "{name}: committed after clean reopen");
    assert_eq!(
        log.first_version(),
        first,
        "{name}: first_version after clean reopen"
    );
    assert_eq!(
        read_from(&log, first).await,
        before,
        "{name}: entries after clean reopen"
    );
    assert_eq!(
        log.load_snapshot().await.expect("load"),
        Some(snap),
        "{name}: snapshot"
    );
    assert_eq!(
        append_ok(&log, vec![op(9)], "after reopen").await,
        9,
        "{name}: next version"
    );
    assert_entry(name, &log.read(9, 1).await.expect("read 9")[0], 9, &op(9));
    Outcome::Passed
}

/// After a crash, every acknowledged entry is present with its content; entries whose append
/// was in flight are absent or a gap-free prefix of that batch; the log keeps
/// working at `committed() + 1`. Repeated over several crash points.
pub async fn crash_reopen_keeps_acknowledged<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::CrashReopen) {
        return na;
    }
    let mut log = create(&factory).await;
    let name = log.name();
    let mut expected: Vec<Operation> = Vec::new();
    for round in 0..4u64 {
        for size in [1u64, 3, 2] {
            let next = expected.len() as u64 + 1;
            let batch = ops(next + 100 * round..next + 100 * round + size);
            let first = append_ok(&log, batch.clone(), "before crash").await;
            assert_eq!(first, next, "{name}: version after crash round {round}");
            expected.extend(batch);
        }
        let acked = expected.len() as u64;
        // Appends whose futures are never awaited: their outcome is unknown at the crash.
        let d = durability(&log);
        let pending: Vec<_> = (0..3).map(|i| op(10_000 + round * 10 + i)).collect();
        let _in_flight = log.append(pending.clone(), d);
        log = factory
            .reopen(log, Restart::Crash)
            .await
            .expect("reopen after crash");
        let committed = log.committed();
        assert!(
            committed >= acked,
            "{name}: lost acknowledged entries ({committed} < {acked})"
        );
        let all = read_from(&log, 1).await;
        assert_gap_free(name, &all, 1);
        for (i, want) in expected.iter().enumerate() {
            assert_entry(name, &all[i], i as u64 + 1, want);
        }
        // An unacknowledged batch may survive whole, in part (a prefix: a torn write), or not.
        let extra = &all[expected.len()..];
        assert!(
            extra.len() <= pending.len(),
            "{name}: entries nobody appended"
        );
        for (entry, want) in extra.iter().zip(&pending) {
            assert_eq!(&entry.op, want, "{name}: in-flight entry changed");
        }
        expected.extend(extra.iter().map(|e| e.op.clone()));
    }
    Outcome::Passed
}

/// After a wipe, the log is empty and starts again at version 1.
pub async fn wipe_reopen_is_empty<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Wipe) {
        return na;
    }
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..6), "before wipe").await;
    log.save_snapshot(Snapshot {
        version: 3,
        data: "s".into(),
    })
    .await
    .expect("save");
    let log = factory
        .reopen(log, Restart::Wipe)
        .await
        .expect("reopen after wipe");
    assert_eq!(log.committed(), 0, "{name}: committed after wipe");
    assert_eq!(log.first_version(), 1, "{name}: first_version after wipe");
    assert!(
        log.load_snapshot().await.expect("load").is_none(),
        "{name}: snapshot after wipe"
    );
    assert_eq!(
        append_ok(&log, vec![op(1)], "after wipe").await,
        1,
        "{name}: restart at 1"
    );
    Outcome::Passed
}

/// After `close`, appends, reads, snapshots, compaction and tailing fail with `Closed`.
pub async fn closed_log_errors<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..3), "before close").await;
    log.close().await.expect("close");
    let closed = |what: &str, r: Result<(), Error>| match r {
        Err(Error::Closed) => {}
        other => panic!("{name}: {what} after close: expected Closed, got {other:?}"),
    };
    closed(
        "append",
        log.append(vec![op(3)], durability(&log)).await.map(drop),
    );
    closed("read", log.read(1, 1).await.map(drop));
    closed(
        "save_snapshot",
        log.save_snapshot(Snapshot {
            version: 1,
            data: "".into(),
        })
        .await,
    );
    closed("load_snapshot", log.load_snapshot().await.map(drop));
    closed("compact", log.compact(0).await);
    closed("wait_committed", log.wait_committed(5).await.map(drop));
    Outcome::Passed
}
