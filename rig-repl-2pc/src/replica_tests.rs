use super::*;
use rig_core::Operation;

fn op(v: u64) -> Operation {
    Operation::new("op", v.to_string())
}

fn ops(range: std::ops::RangeInclusive<u64>) -> Vec<Operation> {
    range.map(op).collect()
}

/// Runs `msg` and applies the records, as the driver does.
fn step(state: &mut LogState, msg: Msg) -> Vec<Msg> {
    let d = on_message(state, msg);
    state.check(&d.records).unwrap();
    for r in &d.records {
        state.apply(r).unwrap();
    }
    d.replies
}

fn prepare(epoch: u64, first: u64, n: u64, committed: u64) -> Msg {
    Msg::Prepare {
        epoch,
        first,
        ops: ops(first..=first + n - 1),
        committed,
    }
}

#[test]
fn prepare_then_commit() {
    let mut s = LogState::default();
    assert_eq!(
        step(&mut s, prepare(1, 1, 3, 0)),
        vec![Msg::Prepared { epoch: 1, last: 3 }]
    );
    assert_eq!((s.last(), s.committed(), s.epoch()), (3, 0, 1));
    assert!(step(
        &mut s,
        Msg::Commit {
            epoch: 1,
            through: 3
        }
    )
    .is_empty());
    assert_eq!(s.committed(), 3);
    // A duplicate prepare is answered again and changes nothing.
    assert_eq!(
        step(&mut s, prepare(1, 1, 3, 3)),
        vec![Msg::Prepared { epoch: 1, last: 3 }]
    );
    assert_eq!(s.range(1, 3), ops(1..=3));
}

#[test]
fn rollback_drops_only_uncommitted_entries() {
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 2, 0));
    step(
        &mut s,
        Msg::Commit {
            epoch: 1,
            through: 1,
        },
    );
    step(&mut s, Msg::Rollback { epoch: 1, from: 1 });
    assert_eq!((s.last(), s.committed()), (1, 1));
}

#[test]
fn an_old_epoch_is_fenced() {
    let mut s = LogState::default();
    step(&mut s, prepare(2, 1, 1, 0));
    assert_eq!(
        step(&mut s, prepare(1, 2, 1, 1)),
        vec![Msg::Fenced { epoch: 2 }]
    );
    assert_eq!(s.last(), 1);
}

#[test]
fn a_gap_asks_for_the_missing_entries() {
    let mut s = LogState::default();
    assert_eq!(
        step(&mut s, prepare(1, 5, 1, 4)),
        vec![Msg::Fetch { epoch: 1, from: 1 }]
    );
    assert_eq!(
        step(
            &mut s,
            Msg::Entries {
                epoch: 1,
                from: 1,
                ops: ops(1..=2),
                committed: 4
            }
        ),
        vec![Msg::Fetch { epoch: 1, from: 3 }]
    );
    assert_eq!(
        step(
            &mut s,
            Msg::Entries {
                epoch: 1,
                from: 3,
                ops: ops(3..=4),
                committed: 4
            }
        ),
        vec![Msg::Prepared { epoch: 1, last: 4 }]
    );
    assert_eq!((s.last(), s.committed()), (4, 4));
}

#[test]
fn sync_resolves_a_stale_prepared_tail() {
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 3, 1)); // 1 committed, 2..=3 prepared
    let sync = Msg::Sync {
        epoch: 1,
        primary: "p".into(),
        committed: 2,
    };
    let d = on_message(&s, sync.clone());
    assert_eq!(d.primary.as_deref(), Some("p"));
    assert_eq!(step(&mut s, sync), vec![Msg::Fetch { epoch: 1, from: 2 }]);
    assert_eq!((s.last(), s.committed()), (1, 1));
    // The primary's version 2 differs from the stale one: it wins.
    let replies = step(
        &mut s,
        Msg::Entries {
            epoch: 1,
            from: 2,
            ops: vec![Operation::new("new", "")],
            committed: 2,
        },
    );
    assert_eq!(replies, vec![Msg::Prepared { epoch: 1, last: 2 }]);
    assert_eq!(s.get(2).unwrap().method, "new");
}

#[test]
fn a_replica_ahead_of_the_primary_refuses_to_follow() {
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 2, 2));
    let d = on_message(
        &s,
        Msg::Sync {
            epoch: 2,
            primary: "p".into(),
            committed: 1,
        },
    );
    assert_eq!(d, Decision::default());
}
