//! Appends and reads recorded in a [`LogHistory`] and judged by the log checker: shared by the
//! cases whose faults make outcomes ambiguous.

use std::time::Duration;

use rig_core::{Error, Log, LogPayload, Operation, Result};

use crate::check::log::{check_log, LogCall, LogHistory, LogReturn};
use crate::conformance::util::{durability, read_from};
use crate::history::Completion;

/// The id of an operation built by `util::op`: its index, from the method name `op-{i}`.
pub(crate) fn id_of(op: &Operation) -> u64 {
    op.method
        .strip_prefix("op-")
        .and_then(|i| i.parse().ok())
        .expect("a suite operation")
}

/// Appends `batch` as `process`, recording the call and its outcome: `Unavailable`,
/// `NotLeader` and `Rejected` definitely failed, any other error is ambiguous.
pub(crate) async fn recorded(
    log: &(impl Log + ?Sized),
    history: &LogHistory,
    process: u64,
    batch: Vec<Operation>,
) -> Result<u64> {
    recorded_within(log, history, process, batch, Duration::MAX).await
}

/// Like [`recorded`], but an append still pending after `limit` is given up on and recorded as
/// ambiguous (it may still land).
pub(crate) async fn recorded_within(
    log: &(impl Log + ?Sized),
    history: &LogHistory,
    process: u64,
    batch: Vec<Operation>,
    limit: Duration,
) -> Result<u64> {
    let op = history.invoke(process, LogCall::Append(batch.iter().map(id_of).collect()));
    let result = match tokio::time::timeout(limit, log.append(batch, durability(log))).await {
        Ok(result) => result,
        Err(_) => Err(Error::OutcomeUnknown {
            reason: format!("no answer within {limit:?}"),
        }),
    };
    let completion = match &result {
        Ok(v) => Completion::Ok(LogReturn::Appended(*v)),
        Err(e @ (Error::Unavailable { .. } | Error::NotLeader { .. } | Error::Rejected(_))) => {
            Completion::Fail(e.to_string())
        }
        Err(e) => Completion::Unknown(e.to_string()),
    };
    history.complete(op, completion);
    result
}

/// Records a read of the whole log through its end, then runs the log checker; returns what
/// was read.
pub(crate) async fn read_all_and_check(
    log: &(impl Log + ?Sized),
    history: &LogHistory,
    what: &str,
) -> Vec<LogPayload> {
    let op = history.invoke(0, LogCall::Read { from: 1 });
    let read = read_from(log, 1).await;
    let entries = read.iter().map(|e| (e.version, id_of(&e.op))).collect();
    let to_end = true;
    history.complete(op, Completion::Ok(LogReturn::Read { entries, to_end }));
    check_history(log.name(), history, what);
    read
}

/// Runs the log checker over everything `history` recorded.
pub(crate) fn check_history(name: &str, history: &LogHistory, what: &str) {
    let anomalies = check_log(&history.ops());
    assert!(anomalies.is_empty(), "{name}: {what}: {anomalies:?}");
}
