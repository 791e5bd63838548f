//! Engine ordering, batching, rejection and exactly-once over MemLog.

mod common;

use common::{set, until, Kv};
use rig_core::{Durability, Error, Log, MemLog, Operation, Rig};

#[tokio::test]
async fn sequential_ops_get_consecutive_versions() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    for i in 1..=10u64 {
        let done = rig.execute(set("k", &i.to_string())).await.unwrap();
        assert_eq!(done.version, i);
        assert_eq!(done.output, (i > 1).then(|| (i - 1).to_string()));
    }
    assert_eq!(log.committed(), 10);
    assert_eq!(rig.state().await.map["k"], "10");
    let entries = log.read(1, 100).await.unwrap();
    assert_eq!(
        entries.iter().map(|p| p.version).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rejected_ops_are_never_logged() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    rig.execute(set("a", "1")).await.unwrap();
    let err = rig.execute(set("a", "")).await.unwrap_err();
    assert!(
        matches!(err, Error::Rejected(ref r) if r.code == "empty_value"),
        "{err}"
    );
    let err = rig
        .execute(Operation::new("set", "{not json"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected(ref r) if r.code == "malformed"),
        "{err}"
    );
    let err = rig.execute(Operation::new("drop", "")).await.unwrap_err();
    assert!(matches!(err, Error::Rejected(_)));
    assert_eq!(log.committed(), 1);
    assert_eq!(rig.execute(set("b", "2")).await.unwrap().version, 2);
}

#[tokio::test]
async fn disjoint_ops_share_a_batch_and_overlapping_ones_wait() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    log.pause_acks(true);
    let mut tasks = Vec::new();
    for k in ["a", "b", "c"] {
        let rig = rig.clone();
        tasks.push(tokio::spawn(async move { rig.execute(set(k, "1")).await }));
    }
    until(|| log.committed() == 3).await;
    // Overlaps "a", which is logged but not yet applied: it must wait, not join a batch.
    let r2 = rig.clone();
    let overlapping = tokio::spawn(async move { r2.execute(set("a", "2")).await });
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        log.committed(),
        3,
        "an overlapping op was appended before the earlier one applied"
    );
    assert_eq!(log.batch_sizes(), vec![3]);
    log.pause_acks(false);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let done = overlapping.await.unwrap().unwrap();
    assert_eq!(done.version, 4);
    assert_eq!(
        done.output.as_deref(),
        Some("1"),
        "validation and apply saw the earlier write"
    );
    assert_eq!(log.batch_sizes(), vec![3, 1]);
}

#[tokio::test]
async fn many_concurrent_callers_all_get_distinct_versions() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for c in 0..64 {
        let rig = rig.clone();
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for i in 0..20 {
                versions.push(
                    rig.execute(set(&format!("k{c}"), &i.to_string()))
                        .await
                        .unwrap()
                        .version,
                );
            }
            versions
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let v = t.await.unwrap();
        assert!(
            v.windows(2).all(|w| w[0] < w[1]),
            "one caller's ops are ordered"
        );
        all.extend(v);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=64 * 20).collect::<Vec<_>>());
    assert!(
        log.batch_sizes().len() < 64 * 20,
        "concurrent callers were batched"
    );
    let state = rig.state().await;
    assert_eq!(state.applies, 64 * 20);
    assert!((0..64).all(|c| state.map[&format!("k{c}")] == "19"));
}

#[tokio::test]
async fn a_retried_request_returns_the_original_result() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    let first = rig.execute(set("a", "1").with_client(7, 1)).await.unwrap();
    let again = rig.execute(set("a", "1").with_client(7, 1)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(log.committed(), 1, "the retry was not logged");
    let next = rig.execute(set("a", "2").with_client(7, 2)).await.unwrap();
    assert_eq!(next.version, 2);
    let stale = rig
        .execute(set("a", "3").with_client(7, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(stale, Error::Rejected(ref r) if r.code == "stale_sequence"),
        "{stale}"
    );
    assert_eq!(rig.state().await.applies, 2);
}

#[tokio::test]
async fn an_ambiguous_append_is_outcome_unknown_and_a_retry_applies_once() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    log.fail_next_append(
        Error::OutcomeUnknown {
            reason: "timeout".into(),
        },
        true,
    );
    let err = rig
        .execute(set("a", "1").with_client(9, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    // The write landed: the retry must return the original result, not apply again.
    let retry = rig.execute(set("a", "1").with_client(9, 1)).await.unwrap();
    assert_eq!(retry.version, 1);
    assert_eq!(rig.state().await.applies, 1);
    assert_eq!(rig.execute(set("b", "1")).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_retry_logged_twice_is_applied_once() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    // Both copies reach the log (the first ack was lost), as after a leader change.
    log.append(vec![set("a", "1").with_client(5, 1)], Durability::Local)
        .await
        .unwrap();
    let retry = rig.execute(set("a", "1").with_client(5, 1)).await.unwrap();
    assert_eq!(
        retry.version, 1,
        "the engine caught up and found the original"
    );
    log.append(vec![set("a", "1").with_client(5, 1)], Durability::Local)
        .await
        .unwrap();
    let done = rig.execute(set("z", "1")).await.unwrap();
    assert_eq!(done.version, 3);
    let state = rig.state().await;
    assert_eq!(
        state.applies, 2,
        "the duplicate entry at version 2 was skipped"
    );
}

#[tokio::test]
async fn unavailable_fails_the_batch_and_leaves_no_gap() {
    let log = MemLog::new();
    let rig = Rig::open(Kv::default(), log.clone()).await.unwrap();
    rig.execute(set("a", "1")).await.unwrap();
    log.fail_next_append(
        Error::Unavailable {
            reason: "disk full".into(),
        },
        false,
    );
    let err = rig.execute(set("b", "1")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(rig.execute(set("b", "2")).await.unwrap().version, 2);
    assert!(!rig.state().await.map.contains_key("c"));
}

/// Regression (found by rig-testkit's simulation, seed 126): an op queued behind a rejected op on
/// the same key used to stay queued until an unrelated event woke the engine.
#[tokio::test]
async fn an_op_behind_a_rejected_op_on_the_same_key_runs() {
    let rig = Rig::open(Kv::default(), MemLog::new()).await.unwrap();
    let (b, c) = (rig.clone(), rig.clone());
    // On the current-thread runtime both requests reach the engine in one round.
    let rejected = tokio::spawn(async move { b.execute(set("k", "")).await });
    let behind = tokio::spawn(async move { c.execute(set("k", "2")).await });
    assert!(rejected.await.unwrap().is_err());
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), behind)
        .await
        .expect("the op behind the rejected one was stranded")
        .unwrap()
        .unwrap();
    assert_eq!(done.version, 1);
}
