use super::*;
use rig_core::Operation;

fn op(v: u64) -> Operation {
    Operation::new("op", v.to_string())
}

fn ops(range: std::ops::RangeInclusive<u64>) -> Vec<Operation> {
    range.map(op).collect()
}

/// Runs `msg` in a session with one primary and applies the records, as the driver does.
fn step(state: &mut LogState, msg: Msg) -> Vec<Msg> {
    thread_local! {
        static SESSION: std::cell::RefCell<Session> = Default::default();
    }
    SESSION.with(|s| step_in(state, &mut s.borrow_mut(), msg))
}

fn step_in(state: &mut LogState, session: &mut Session, msg: Msg) -> Vec<Msg> {
    let d = on_message(state, session, msg);
    state.check(&d.records).unwrap();
    for r in d.records {
        state.apply(r).unwrap();
    }
    d.replies
}

fn prepare(epoch: u64, first: u64, n: u64, committed: u64) -> Msg {
    Msg::Prepare {
        epoch,
        round: first,
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
        vec![Msg::Prepared {
            epoch: 1,
            round: 1,
            last: 3
        }]
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
        vec![Msg::Prepared {
            epoch: 1,
            round: 1,
            last: 3
        }]
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
    step(
        &mut s,
        Msg::Rollback {
            epoch: 1,
            round: 9,
            from: 1,
        },
    );
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
        vec![Msg::Prepared {
            epoch: 1,
            round: 0,
            last: 4
        }]
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
        last: 2,
    };
    let d = on_message(&s, &mut Session::default(), sync.clone());
    assert_eq!(d.primary.as_deref(), Some("p"));
    assert_eq!(step(&mut s, sync), vec![Msg::Fetch { epoch: 1, from: 2 }]);
    // 2 may have been acknowledged (the primary committed it): kept until checked. 3 was not.
    assert_eq!((s.last(), s.committed()), (2, 1));
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
    assert_eq!(
        replies,
        vec![Msg::Prepared {
            epoch: 1,
            round: 0,
            last: 2
        }]
    );
    assert_eq!(s.get(2).unwrap().method, "new");
}

#[test]
fn a_replica_ahead_of_the_primary_refuses_to_follow() {
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 2, 2));
    let d = on_message(
        &s,
        &mut Session::default(),
        Msg::Sync {
            epoch: 2,
            primary: "p".into(),
            committed: 1,
            last: 1,
        },
    );
    assert_eq!(d, Decision::default());
}

#[test]
fn a_replica_that_committed_the_primarys_tail_keeps_it() {
    // The primary lost its (lazily synced) commit record for 2 in a crash; the replica had
    // committed it. The restarted primary still holds 2 prepared and will commit it again.
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 2, 2));
    let replies = step(
        &mut s,
        Msg::Sync {
            epoch: 1,
            primary: "p".into(),
            committed: 1,
            last: 2,
        },
    );
    assert_eq!(
        replies,
        vec![Msg::Prepared {
            epoch: 1,
            round: 0,
            last: 2
        }]
    );
    assert_eq!(
        step(&mut s, prepare(1, 2, 1, 1)),
        vec![Msg::Prepared {
            epoch: 1,
            round: 2,
            last: 2
        }]
    );
    assert_eq!((s.last(), s.committed()), (2, 2));
}

mod shuffled {
    use super::*;
    use proptest::prelude::*;

    /// A message a correct primary of epoch 1, whose log is `op(1..=n)` committed through `c`,
    /// may send at some point (committed fields never exceed `c`).
    fn message(n: u64, c: u64) -> impl Strategy<Value = Msg> {
        let slice = (1..=n, 0..=4u64).prop_map(move |(first, len)| {
            let end = (first + len).min(n);
            (first, ops(first..=end))
        });
        prop_oneof![
            (slice.clone(), 0..=c).prop_map(|((first, ops), committed)| Msg::Prepare {
                epoch: 1,
                round: first,
                first,
                ops,
                committed,
            }),
            (0..=c + 2).prop_map(move |through| Msg::Commit {
                epoch: 1,
                through: through.min(c)
            }),
            (1..=c.max(1)).prop_map(move |from| Msg::Entries {
                epoch: 1,
                from,
                ops: ops(from..=c),
                committed: c,
            }),
            (0..=c).prop_map(move |committed| Msg::Sync {
                epoch: 1,
                primary: "p".into(),
                committed,
                last: n,
            }),
            (c + 1..=n + 1).prop_map(|from| Msg::Rollback {
                epoch: 1,
                round: from,
                from
            }),
        ]
    }

    fn scenario() -> impl Strategy<Value = (u64, u64, Vec<Msg>)> {
        (1..12u64)
            .prop_flat_map(|n| (Just(n), 0..=n))
            .prop_flat_map(|(n, c)| {
                (
                    Just(n),
                    Just(c),
                    proptest::collection::vec(message(n, c), 0..40),
                )
            })
    }

    proptest! {
        /// Duplicated, reordered and dropped messages (any sequence of them) never make the
        /// replica hold an entry the primary does not, nor commit past the primary.
        #[test]
        fn any_message_order_keeps_the_replica_a_prefix((n, c, msgs) in scenario()) {
            let mut s = LogState::default();
            let mut session = Session::default();
            for m in msgs {
                step_in(&mut s, &mut session, m);
                prop_assert!(s.committed() <= c);
                prop_assert!(s.last() <= n);
                prop_assert_eq!(s.range(1, s.last()), ops(1..=s.last()));
            }
        }

        /// A replica holding a prepared tail from another history (another primary's, or a
        /// rolled-back round's) never commits any of it, whatever the messages' order, once a
        /// primary synced it.
        #[test]
        fn a_stale_tail_is_never_committed((n, c, msgs) in scenario(), stale in 1..6u64) {
            let mut s = LogState::default();
            let mut session = Session::default();
            let old = (1..=stale).map(|v| Operation::new("stale", v.to_string())).collect();
            step_in(&mut s, &mut session, Msg::Prepare {
                epoch: 1, round: 1, first: 1, ops: old, committed: 0,
            });
            let mut session = Session::default();
            let sync = Msg::Sync { epoch: 1, primary: "p".into(), committed: c, last: n };
            for m in std::iter::once(sync).chain(msgs) {
                step_in(&mut s, &mut session, m);
                prop_assert!(s.committed() <= c);
                prop_assert_eq!(s.range(1, s.committed()), ops(1..=s.committed()));
            }
        }
    }
}

#[test]
fn sync_keeps_a_prepared_tail_the_primary_committed() {
    // The primary committed and acknowledged 1..=3; its Commit never reached this replica, and
    // it restarted. Dropping the tail on Sync would lose acknowledged ops if this replica were
    // promoted before the re-fetch completes.
    let mut s = LogState::default();
    step(&mut s, prepare(1, 1, 3, 0));
    let d = on_message(
        &s,
        &mut Session::default(),
        Msg::Sync {
            epoch: 1,
            primary: "p".into(),
            committed: 3,
            last: 3,
        },
    );
    assert!(d.records.is_empty(), "nothing dropped: {:?}", d.records);
    assert_eq!(d.replies, vec![Msg::Fetch { epoch: 1, from: 1 }]);
}

#[test]
fn a_stale_prepared_entry_is_never_committed_before_it_is_checked() {
    // Version 1 here was prepared under another primary and differs from this primary's.
    let mut s = LogState::default();
    let mut session = Session::default();
    step_in(&mut s, &mut session, prepare(1, 1, 1, 0));
    let mut session = Session::default();
    let sync = Msg::Sync {
        epoch: 2,
        primary: "p2".into(),
        committed: 1,
        last: 1,
    };
    assert_eq!(
        step_in(&mut s, &mut session, sync),
        vec![Msg::Fetch { epoch: 2, from: 1 }]
    );
    // A Commit overtakes the Entries: the unchecked entry stays uncommitted.
    let commit = Msg::Commit {
        epoch: 2,
        through: 1,
    };
    assert_eq!(
        step_in(&mut s, &mut session, commit),
        vec![Msg::Fetch { epoch: 2, from: 1 }]
    );
    assert_eq!(s.committed(), 0);
    let entries = Msg::Entries {
        epoch: 2,
        from: 1,
        ops: vec![Operation::new("theirs", "")],
        committed: 1,
    };
    assert_eq!(
        step_in(&mut s, &mut session, entries),
        vec![Msg::Prepared {
            epoch: 2,
            round: 0,
            last: 1
        }]
    );
    assert_eq!(
        (s.committed(), s.get(1).unwrap().method.as_str()),
        (1, "theirs")
    );
}

#[test]
fn an_identical_held_entry_is_kept_not_rewritten() {
    let mut s = LogState::default();
    let mut session = Session::default();
    step_in(&mut s, &mut session, prepare(1, 1, 2, 0));
    let mut session = Session::default();
    let d = on_message(
        &s,
        &mut session,
        Msg::Entries {
            epoch: 1,
            from: 1,
            ops: ops(1..=2),
            committed: 2,
        },
    );
    assert_eq!(d.records, vec![Record::Commit { through: 2 }]);
}

#[test]
fn a_snapshot_is_assembled_from_its_chunks_in_order() {
    let s = LogState::default();
    let mut session = Session::default();
    let chunk = |offset: u64, data: &'static [u8]| Msg::Snapshot {
        epoch: 1,
        version: 7,
        offset,
        total: 5,
        data: bytes::Bytes::from_static(data),
    };
    assert_eq!(
        on_message(&s, &mut session, chunk(0, b"ab")),
        Decision {
            records: vec![Record::Epoch { epoch: 1 }],
            ..Decision::default()
        }
    );
    // A chunk that does not continue it drops the snapshot in progress.
    let d = on_message(&s, &mut session, chunk(3, b"de"));
    assert!(d.install.is_none() && session.incoming.is_none());
    on_message(&s, &mut session, chunk(0, b"ab"));
    on_message(&s, &mut session, chunk(2, b"c"));
    let d = on_message(&s, &mut session, chunk(3, b"de"));
    let snap = d.install.expect("whole");
    assert_eq!((snap.version, &snap.data[..]), (7, &b"abcde"[..]));
    assert_eq!(d.replies, vec![Msg::Fetch { epoch: 1, from: 8 }]);
    assert_eq!(session.matched, 7);
}
