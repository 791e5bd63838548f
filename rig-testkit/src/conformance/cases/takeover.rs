//! Object-store faults (needs [`Capability::ObjectStoreFaults`]) and fencing of a stale writer
//! (needs [`Capability::Fencing`]), both judged by the log checker over a recorded history.

use rig_core::Log;

use super::recorded::{id_of, read_all_and_check, recorded};
use crate::check::log::{LogCall, LogHistory, LogReturn};
use crate::conformance::util::{append_ok, create, lacks, ops};
use crate::conformance::{Capability, LogFactory, Outcome, Restart};
use crate::history::Completion;

/// Under object-store faults (PUTs failing before the write, PUTs that land but report a
/// failure, throttling, latency) no acknowledged entry is lost, nothing appears twice or out of
/// order, and nothing reported as definitely failed is visible; after the faults stop the log
/// works again.
#[cfg(feature = "object-store")]
pub async fn object_store_faults_lose_nothing<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::ObjectStoreFaults) {
        return na;
    }
    let ctl = factory
        .object_store_faults()
        .expect("ObjectStoreFaults declared but object_store_faults() is None");
    let mut log = create(&factory).await;
    let name = log.name();
    let history = LogHistory::new();
    for i in 0..48u64 {
        match i % 8 {
            1 => ctl.fail_before_next_puts(1),
            3 => ctl.fail_after_next_puts(1),
            5 => ctl.throttle_next(1),
            7 => ctl.fail_after_next_puts(2),
            _ => {}
        }
        if i == 24 {
            ctl.set_fail_before_write_rate(100);
            ctl.set_fail_after_write_rate(100);
            ctl.set_throttle_rate(50);
            ctl.set_max_latency(std::time::Duration::from_millis(5));
        }
        let batch = ops(1 + 2 * i..3 + 2 * i);
        if let Err(e) = recorded(&log, &history, 1, batch).await {
            if e.is_fatal() {
                // The process restarts, as a supervisor would; faults pause meanwhile.
                let stats = ctl.stats();
                ctl.heal();
                log = factory
                    .reopen(log, Restart::Crash)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: reopen after {e} ({stats:?})"));
            }
        }
    }
    let stats = ctl.stats();
    assert!(
        stats.failed_before_write > 0 && stats.failed_after_write > 0 && stats.throttled > 0,
        "{name}: the injected faults never reached the store: {stats:?}"
    );
    ctl.heal();
    let log = factory
        .reopen(log, Restart::Crash)
        .await
        .unwrap_or_else(|e| panic!("{name}: reopen once faults stopped: {e}"));
    recorded(&log, &history, 1, ops(1000..1001))
        .await
        .unwrap_or_else(|e| panic!("{name}: append once faults stopped: {e}"));
    read_all_and_check(&log, &history, "after object-store faults").await;
    Outcome::Passed
}

/// Without rig-testkit's `object-store` feature there is no fault controller to ask for.
#[cfg(not(feature = "object-store"))]
pub async fn object_store_faults_lose_nothing<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::ObjectStoreFaults) {
        return na;
    }
    panic!("ObjectStoreFaults declared: enable rig-testkit's `object-store` feature");
}

/// A second writer opened on the same storage takes over: it sees everything the first one
/// acknowledged, its own appends succeed, and the stale first writer never gets an ack for a
/// write the new writer does not see (checked on the new writer's log after a crash).
pub async fn stale_writer_is_fenced<F: LogFactory>(factory: F) -> Outcome {
    if let Some(na) = lacks(&factory, Capability::Fencing) {
        return na;
    }
    let first = create(&factory).await;
    let name = first.name();
    let history = LogHistory::new();
    for batch in [ops(1..3), ops(3..4)] {
        let ids = batch.iter().map(id_of).collect();
        let op = history.invoke(1, LogCall::Append(ids));
        let v = append_ok(&first, batch, "before the takeover").await;
        history.complete(op, Completion::Ok(LogReturn::Appended(v)));
    }
    let second = factory
        .open_second_writer()
        .await
        .expect("Fencing declared but open_second_writer() is None")
        .unwrap_or_else(|e| panic!("{name}: open a second writer: {e}"));
    let mut stale_acks = 0;
    for round in 0..3u64 {
        let base = 100 * (round + 1);
        stale_acks += u64::from(
            recorded(&first, &history, 1, ops(base..base + 2))
                .await
                .is_ok(),
        );
        recorded(&second, &history, 2, ops(base + 50..base + 52))
            .await
            .unwrap_or_else(|e| panic!("{name}: the new writer's append failed: {e}"));
    }
    println!("{name}: the stale writer got {stale_acks} acks after the takeover");
    drop(first);
    let second = factory
        .reopen(second, Restart::Crash)
        .await
        .unwrap_or_else(|e| panic!("{name}: reopen the new writer: {e}"));
    read_all_and_check(&second, &history, "after a takeover").await;
    Outcome::Passed
}
