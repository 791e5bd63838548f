//! One bad history per anomaly, plus valid histories that must pass.

use super::*;
use crate::history::Completion;

fn append(h: &LogHistory, p: u64, ids: &[u64], result: Completion<LogReturn>) {
    let id = h.invoke(p, LogCall::Append(ids.to_vec()));
    h.complete(id, result);
}

fn acked(first: u64) -> Completion<LogReturn> {
    Completion::Ok(LogReturn::Appended(first))
}

fn read(h: &LogHistory, p: u64, from: u64, entries: &[(u64, u64)]) -> OpId {
    let id = h.invoke(p, LogCall::Read { from });
    h.complete(
        id,
        Completion::Ok(LogReturn::Read {
            entries: entries.to_vec(),
            to_end: true,
        }),
    );
    id
}

#[test]
fn valid_history_has_no_anomaly() {
    let h = LogHistory::new();
    append(&h, 1, &[10, 11], acked(1));
    let pending = h.invoke(2, LogCall::Append(vec![12]));
    append(&h, 3, &[13], Completion::Fail("unavailable".into()));
    read(&h, 4, 1, &[(1, 10), (2, 11)]);
    h.complete(pending, Completion::Unknown("timeout".into()));
    read(&h, 4, 1, &[(1, 10), (2, 11), (3, 12)]);
    append(&h, 1, &[14], acked(4));
    read(&h, 5, 3, &[(3, 12), (4, 14)]);
    assert_eq!(check_log(&h.ops()), vec![]);
}

#[test]
fn finds_lost_ack_by_truncation() {
    let h = LogHistory::new();
    append(&h, 1, &[10], acked(1));
    append(&h, 1, &[11], acked(2));
    read(&h, 2, 1, &[(1, 10)]);
    assert_eq!(
        check_log(&h.ops()),
        vec![LogAnomaly::LostAck { id: 11, version: 2 }]
    );
}

#[test]
fn read_before_the_ack_may_miss_it() {
    let h = LogHistory::new();
    let a = h.invoke(1, LogCall::Append(vec![10]));
    read(&h, 2, 1, &[]);
    h.complete(a, acked(1));
    assert_eq!(check_log(&h.ops()), vec![]);
}

#[test]
fn finds_lost_ack_by_replacement() {
    let h = LogHistory::new();
    append(&h, 1, &[10], acked(1));
    let u = h.invoke(2, LogCall::Append(vec![20]));
    read(&h, 3, 1, &[(1, 20)]);
    h.complete(u, Completion::Unknown("crash".into()));
    let found = check_log(&h.ops());
    assert!(
        found.contains(&LogAnomaly::LostAck { id: 10, version: 1 }),
        "{found:?}"
    );
}

#[test]
fn finds_hole() {
    let h = LogHistory::new();
    append(&h, 1, &[10, 11, 12], acked(1));
    let r = read(&h, 2, 1, &[(1, 10), (3, 12)]);
    let found = check_log(&h.ops());
    assert!(
        found.contains(&LogAnomaly::Hole {
            read: r,
            expected: 2,
            got: 3
        }),
        "{found:?}"
    );
}

#[test]
fn finds_duplicate() {
    let h = LogHistory::new();
    let u = h.invoke(1, LogCall::Append(vec![10]));
    h.complete(u, Completion::Unknown("retry".into()));
    read(&h, 2, 1, &[(1, 10), (2, 10)]);
    assert_eq!(
        check_log(&h.ops()),
        vec![LogAnomaly::Duplicate {
            id: 10,
            versions: (1, 2)
        }]
    );
}

#[test]
fn finds_divergence_between_readers() {
    let h = LogHistory::new();
    let a = h.invoke(1, LogCall::Append(vec![10]));
    let b = h.invoke(2, LogCall::Append(vec![20]));
    read(&h, 3, 1, &[(1, 10)]);
    read(&h, 4, 1, &[(1, 20)]);
    h.complete(a, Completion::Unknown("x".into()));
    h.complete(b, Completion::Unknown("y".into()));
    let found = check_log(&h.ops());
    assert!(
        found.contains(&LogAnomaly::Divergence {
            version: 1,
            ids: (10, 20)
        }),
        "{found:?}"
    );
}

#[test]
fn finds_phantom() {
    let h = LogHistory::new();
    append(&h, 1, &[10], acked(1));
    read(&h, 2, 1, &[(1, 10), (2, 99)]);
    assert_eq!(
        check_log(&h.ops()),
        vec![LogAnomaly::Phantom { id: 99, version: 2 }]
    );
}

#[test]
fn finds_real_time_order_violation() {
    let h = LogHistory::new();
    append(&h, 1, &[10, 11], acked(2));
    append(&h, 2, &[20], acked(1));
    read(&h, 3, 1, &[(1, 20), (2, 10), (3, 11)]);
    let found = check_log(&h.ops());
    assert_eq!(
        found,
        vec![LogAnomaly::RealTimeOrder {
            earlier: 10,
            later: 20
        }]
    );
}

#[test]
fn real_time_order_uses_the_last_version_of_a_batch() {
    let h = LogHistory::new();
    append(&h, 1, &[10, 11, 12], acked(1));
    let u = h.invoke(2, LogCall::Append(vec![20]));
    read(&h, 3, 1, &[(1, 10), (2, 20)]);
    h.complete(u, Completion::Unknown("z".into()));
    let found = check_log(&h.ops());
    assert!(
        found.contains(&LogAnomaly::RealTimeOrder {
            earlier: 10,
            later: 20
        }),
        "{found:?}"
    );
}

#[test]
fn finds_failed_but_visible() {
    let h = LogHistory::new();
    append(&h, 1, &[10], Completion::Fail("not leader".into()));
    read(&h, 2, 1, &[(1, 10)]);
    assert_eq!(
        check_log(&h.ops()),
        vec![LogAnomaly::FailedButVisible { id: 10, version: 1 }]
    );
}

#[test]
fn finds_wrong_version() {
    let h = LogHistory::new();
    append(&h, 1, &[10], acked(2));
    let u = h.invoke(2, LogCall::Append(vec![30]));
    h.complete(u, Completion::Unknown("?".into()));
    read(&h, 3, 1, &[(1, 10), (2, 30)]);
    let found = check_log(&h.ops());
    assert!(
        found.contains(&LogAnomaly::WrongVersion {
            id: 10,
            acked: 2,
            seen: 1
        }),
        "{found:?}"
    );
}

#[test]
fn checks_a_hundred_thousand_entries() {
    let h = LogHistory::new();
    let mut entries = Vec::with_capacity(100_000);
    for batch in 0..1_000u64 {
        let ids: Vec<u64> = (batch * 100..batch * 100 + 100).collect();
        append(&h, batch % 8, &ids, acked(batch * 100 + 1));
        entries.extend(ids.iter().map(|&id| (id + 1, id)));
    }
    read(&h, 9, 1, &entries);
    assert_eq!(check_log(&h.ops()), vec![]);
}
