//! Appends, reads and version assignment.

use rig_core::{Log, Role};

use crate::conformance::util::{
    append_ok, assert_entry, assert_gap_free, create, durability, op, ops, read_from,
};
use crate::conformance::{LogFactory, Outcome};

/// A fresh log is empty: `committed() == 0`, `first_version() == 1`, reads from 1 are empty, no
/// snapshot, and it accepts writes.
pub async fn empty_log_bounds<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    assert!(!name.is_empty(), "backend name is empty");
    assert_eq!(log.committed(), 0, "{name}: fresh log committed");
    assert_eq!(log.first_version(), 1, "{name}: fresh log first_version");
    assert!(
        log.read(1, 10).await.expect("read fresh log").is_empty(),
        "{name}: fresh read"
    );
    assert!(
        log.load_snapshot().await.expect("load").is_none(),
        "{name}: fresh snapshot"
    );
    assert_eq!(
        log.role(),
        Role::Leader,
        "{name}: a fresh single log accepts writes"
    );
    assert!(log.read_barrier().await.expect("read_barrier") <= log.committed());
    Outcome::Passed
}

/// What is appended reads back byte for byte (empty, binary and multi-KiB data, client
/// sequences), at the version the append returned.
pub async fn append_read_round_trip<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    let mut next = 1;
    for size in [1u64, 3, 1, 10, 2] {
        let batch = ops(next..next + size);
        let first = append_ok(&log, batch.clone(), "round trip").await;
        assert_eq!(first, next, "{name}: first version of batch");
        assert!(
            log.committed() >= next + size - 1,
            "{name}: acked entry not committed"
        );
        let back = log.read(first, size as usize).await.expect("read back");
        assert_eq!(back.len(), size as usize, "{name}: read back a whole batch");
        for (i, (entry, want)) in back.iter().zip(&batch).enumerate() {
            assert_entry(name, entry, first + i as u64, want);
        }
        next += size;
    }
    for (i, entry) in read_from(&log, 1).await.iter().enumerate() {
        assert_entry(name, entry, i as u64 + 1, &op(i as u64 + 1));
    }
    Outcome::Passed
}

/// `read(from, max)` returns at most `max` entries, exactly `from..`, and nothing past
/// `committed()`.
pub async fn read_bounds<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    append_ok(&log, ops(1..11), "fill").await;
    assert_eq!(
        log.committed(),
        10,
        "{name}: committed after 10 acked entries"
    );
    assert!(
        log.read(1, 0).await.expect("read max 0").is_empty(),
        "{name}: max = 0"
    );
    let three = log.read(4, 3).await.expect("read 4..7");
    assert_eq!(
        three.iter().map(|e| e.version).collect::<Vec<_>>(),
        [4, 5, 6],
        "{name}: 4..7"
    );
    let tail = log.read(9, 100).await.expect("read tail");
    assert_eq!(
        tail.iter().map(|e| e.version).collect::<Vec<_>>(),
        [9, 10],
        "{name}: tail"
    );
    assert!(
        log.read(11, 5).await.expect("read at end").is_empty(),
        "{name}: from > committed"
    );
    assert!(
        log.read(1000, 5).await.expect("read far").is_empty(),
        "{name}: far past end"
    );
    Outcome::Passed
}

/// Versions start at 1 and are strictly increasing and gap-free across batches of mixed sizes.
pub async fn versions_are_gap_free<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    let mut expected = 1;
    for size in [1u64, 2, 5, 1, 1, 8, 3] {
        let first = append_ok(&log, ops(expected..expected + size), "gap-free").await;
        assert_eq!(
            first, expected,
            "{name}: batch got a gap or a reused version"
        );
        expected += size;
    }
    let all = read_from(&log, 1).await;
    assert_eq!(all.len() as u64, expected - 1, "{name}: entry count");
    assert_gap_free(name, &all, 1);
    Outcome::Passed
}

/// Versions follow the order of `append` calls, not of awaiting their futures.
pub async fn append_order_follows_calls<F: LogFactory>(factory: F) -> Outcome {
    let log = create(&factory).await;
    let name = log.name();
    let d = durability(&log);
    let futures: Vec<_> = (1..=6u64).map(|i| log.append(vec![op(i)], d)).collect();
    let mut versions = Vec::new();
    for fut in futures.into_iter().rev() {
        versions.push(fut.await.unwrap_or_else(|e| panic!("{name}: append: {e}")));
    }
    versions.reverse();
    assert_eq!(
        versions,
        [1, 2, 3, 4, 5, 6],
        "{name}: versions must follow call order"
    );
    for (i, entry) in read_from(&log, 1).await.iter().enumerate() {
        assert_entry(name, entry, i as u64 + 1, &op(i as u64 + 1));
    }
    Outcome::Passed
}
