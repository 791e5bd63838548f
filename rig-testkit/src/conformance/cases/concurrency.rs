//! Concurrent appenders, concurrent readers and tailing.

use std::collections::BTreeMap;
use std::sync::Arc;

use rig_core::{Log, Operation};

use crate::conformance::util::{append_ok, assert_gap_free, create, durability, op, read_from};
use crate::conformance::{LogFactory, Outcome};

const WRITERS: u64 = 8;
const PER_WRITER: u64 = 25;

/// Eight tasks append at once: every acknowledged version is unique, all versions together are
/// exactly `1..=n`, each task's own versions increase, and each version holds what its task
/// appended.
pub async fn concurrent_appenders<F: LogFactory>(factory: F) -> Outcome {
    let log = Arc::new(create(&factory).await);
    let name = log.name();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..PER_WRITER {
                let o = op(w * 1000 + i);
                let v = append_ok(&log, vec![o.clone()], "concurrent").await;
                got.push((v, o));
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut by_version: BTreeMap<u64, Operation> = BTreeMap::new();
    for task in tasks {
        let got = task.await.expect("appender task panicked");
        let versions: Vec<u64> = got.iter().map(|(v, _)| *v).collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{name}: one task's versions decrease"
        );
        for (v, o) in got {
            assert!(
                by_version.insert(v, o).is_none(),
                "{name}: version {v} acknowledged twice"
            );
        }
    }
    let n = WRITERS * PER_WRITER;
    assert_eq!(
        by_version.keys().copied().collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    let all = read_from(&log, 1).await;
    assert_eq!(all.len() as u64, n, "{name}: entry count");
    for entry in &all {
        assert_eq!(
            &entry.op, &by_version[&entry.version],
            "{name}: wrong entry {}",
            entry.version
        );
    }
    Outcome::Passed
}

/// While a writer appends, readers always see a gap-free prefix that never changes once seen,
/// and `committed()` never goes backwards.
pub async fn readers_see_prefixes<F: LogFactory>(factory: F) -> Outcome {
    let log = Arc::new(create(&factory).await);
    let name = log.name();
    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            for i in 1..=60u64 {
                let batch: Vec<_> = (i * 10..i * 10 + i % 3 + 1).map(op).collect();
                append_ok(&log, batch, "prefix writer").await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut last_committed = 0;
    while !writer.is_finished() {
        let committed = log.committed();
        assert!(
            committed >= last_committed,
            "{name}: committed went backwards"
        );
        last_committed = committed;
        let now = read_from(&log, 1).await;
        assert!(
            now.len() >= seen.len(),
            "{name}: a reader saw the log shrink"
        );
        assert_gap_free(name, &now, 1);
        assert_eq!(
            &now[..seen.len()],
            &seen[..],
            "{name}: a seen entry changed"
        );
        seen = now;
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer task panicked");
    let all = read_from(&log, 1).await;
    assert_eq!(
        &all[..seen.len()],
        &seen[..],
        "{name}: a seen entry changed"
    );
    Outcome::Passed
}

/// `wait_committed` returns at once when entries already exist past `after`, and a waiter
/// blocked on an empty log wakes up (possibly after early returns, callers loop) once an entry
/// is committed.
pub async fn tailing_wakes_up<F: LogFactory>(factory: F) -> Outcome {
    let log = Arc::new(create(&factory).await);
    let name = log.name();
    let waiter = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                let c = log.wait_committed(0).await.expect("wait_committed");
                if c > 0 {
                    return c;
                }
            }
        })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    append_ok(&log, vec![op(1)], "tail").await;
    let woke = waiter.await.expect("waiter task panicked");
    assert!(woke >= 1, "{name}: waiter returned {woke}");
    append_ok(&log, vec![op(2), op(3)], "tail").await;
    let now = log.wait_committed(1).await.expect("wait_committed(1)");
    assert_eq!(now, 3, "{name}: wait_committed with entries past `after`");
    let d = durability(&*log);
    let second = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { log.wait_committed(3).await })
    };
    tokio::task::yield_now().await;
    log.append(vec![op(4)], d).await.expect("append 4");
    let v = second
        .await
        .expect("waiter panicked")
        .expect("wait_committed(3)");
    assert!(v == 3 || v == 4, "{name}: wait_committed(3) returned {v}");
    Outcome::Passed
}
