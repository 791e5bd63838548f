//! Disk faults: a full disk and a failed fsync (needs [`Capability::DiskFaults`]).

use rig_core::{Error, Log};

use crate::conformance::util::{
    append_ok, assert_entry, assert_gap_free, create, durability, lacks, op, ops, read_from,
};
use crate::conformance::{Capability, LogFactory, Outcome, Restart};

/// On a full disk an append is never acknowledged; once space returns, the log either keeps
/// working gap-free or stays stopped with a fatal error; after a crash every acknowledged entry
/// is there, and the refused batch only if its error was ambiguous.
pub async fn disk_full_is_not_acknowledged<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::DiskFaults) {
        return na;
    }
    let disk = factory
        .disk()
        .expect("DiskFaults declared but disk() is None");
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..6), "before the disk fills").await;
    disk.set_space_left(Some(0));
    let refused = log.append(ops(6..9), durability(&log)).await;
    let error = match refused {
        Ok(v) => panic!("{name}: append on a full disk acknowledged at {v}"),
        Err(e) => e,
    };
    disk.heal();
    let mut expected = ops(1..6);
    match log.append(vec![op(100)], durability(&log)).await {
        Ok(v) => {
            assert_eq!(
                v,
                log.committed(),
                "{name}: version after the disk had space again"
            );
            if v == 6 {
                expected.push(op(100));
            }
        }
        Err(e) => assert!(
            e.is_fatal(),
            "{name}: after a full disk: non-fatal {e} yet refused"
        ),
    }
    let log = factory
        .reopen(log, Restart::Crash)
        .await
        .expect("reopen after disk full");
    let all = read_from(&log, 1).await;
    assert_gap_free(name, &all, 1);
    for (i, want) in expected.iter().enumerate().take(5) {
        assert_entry(name, &all[i], i as u64 + 1, want);
    }
    let refused_landed = all.iter().any(|e| e.op == op(6));
    let ambiguous = matches!(error, Error::OutcomeUnknown { .. }) || error.is_fatal();
    assert!(
        !refused_landed || ambiguous,
        "{name}: refused batch ({error}) is in the log"
    );
    Outcome::Passed
}

/// A failed fsync is never acknowledged and poisons the log: the next append fails too instead
/// of retrying the fsync (which would "succeed" over lost pages). After a crash every entry
/// acknowledged before the failure is there.
pub async fn fsync_failure_poisons<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::DiskFaults) {
        return na;
    }
    let disk = factory
        .disk()
        .expect("DiskFaults declared but disk() is None");
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..4), "before the fsync failure").await;
    disk.fail_next_syncs(1);
    if let Ok(v) = log.append(ops(4..6), durability(&log)).await {
        panic!("{name}: append whose fsync failed was acknowledged at {v}");
    }
    match log.append(vec![op(6)], durability(&log)).await {
        Ok(v) => panic!("{name}: append after a failed fsync acknowledged at {v} (not poisoned)"),
        Err(e) => assert!(
            e.is_fatal(),
            "{name}: after a failed fsync, expected fatal, got {e}"
        ),
    }
    disk.heal();
    let log = factory
        .reopen(log, Restart::Crash)
        .await
        .expect("reopen after fsync failure");
    let all = read_from(&log, 1).await;
    assert_gap_free(name, &all, 1);
    assert!(
        all.len() >= 3,
        "{name}: lost acknowledged entries after a failed fsync"
    );
    for (i, want) in ops(1..4).iter().enumerate() {
        assert_entry(name, &all[i], i as u64 + 1, want);
    }
    assert!(
        all.iter().all(|e| e.op != op(6)),
        "{name}: the refused append is in the log"
    );
    Outcome::Passed
}
