//! [`RecordingLog`]: wraps any [`Log`] and records its appends and reads in a [`LogHistory`] for
//! [`check_log`](super::log::check_log).

use std::fmt;

use async_trait::async_trait;
use futures_util::FutureExt;
use rig_core::{
    AppendFuture, Durability, Error, Log, LogPayload, Operation, Result, Role, Snapshot,
};

use super::log::{LogCall, LogHistory, LogReturn};
use crate::history::Completion;

/// Extracts an entry's unique id from its operation.
pub type EntryId = fn(&Operation) -> u64;

/// A [`Log`] that records every `append` and `read` of the wrapped log (process `process`) in a
/// shared [`LogHistory`]. Errors are classified like the contract says: `Unavailable` and
/// `NotLeader` definitely failed, anything else has an unknown outcome.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use rig_core::{Durability, Log, MemLog, Operation};
/// use rig_testkit::check::log::{check_log, LogHistory};
/// use rig_testkit::check::recording::RecordingLog;
///
/// let id = |op: &Operation| op.method.parse::<u64>().unwrap();
/// let history = LogHistory::new();
/// let log = RecordingLog::new(MemLog::new(), history.clone(), 1, id);
/// log.append(vec![Operation::new("7", ""), Operation::new("8", "")], Durability::Local).await.unwrap();
/// log.read(1, 100).await.unwrap();
/// assert_eq!(history.len(), 2);
/// assert!(check_log(&history.ops()).is_empty());
/// # });
/// ```
pub struct RecordingLog<L> {
    inner: L,
    history: LogHistory,
    process: u64,
    id: EntryId,
}

impl<L> fmt::Debug for RecordingLog<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingLog")
            .field("process", &self.process)
            .finish()
    }
}

impl<L: Log> RecordingLog<L> {
    /// Wraps `inner`, recording into `history` as `process`, with entry ids from `id`.
    pub fn new(inner: L, history: LogHistory, process: u64, id: EntryId) -> Self {
        Self {
            inner,
            history,
            process,
            id,
        }
    }

    /// The wrapped log.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

fn classify<T>(e: &Error) -> Completion<T> {
    match e {
        Error::Unavailable { .. } | Error::NotLeader { .. } | Error::InvalidArgument(_) => {
            Completion::Fail(e.to_string())
        }
        _ => Completion::Unknown(e.to_string()),
    }
}

#[async_trait]
impl<L: Log> Log for RecordingLog<L> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn strongest_durability(&self) -> Durability {
        self.inner.strongest_durability()
    }
    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        let ids = ops.iter().map(self.id).collect();
        let op = self.history.invoke(self.process, LogCall::Append(ids));
        let history = self.history.clone();
        let append = self.inner.append(ops, durability);
        async move {
            let result = append.await;
            match &result {
                Ok(first) => history.complete(op, Completion::Ok(LogReturn::Appended(*first))),
                Err(e) => history.complete(op, classify(e)),
            }
            result
        }
        .boxed()
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        let op = self.history.invoke(self.process, LogCall::Read { from });
        let result = self.inner.read(from, max).await;
        match &result {
            Ok(entries) => {
                let ids = entries
                    .iter()
                    .map(|e| (e.version, (self.id)(&e.op)))
                    .collect();
                let to_end = entries.len() < max;
                self.history.complete(
                    op,
                    Completion::Ok(LogReturn::Read {
                        entries: ids,
                        to_end,
                    }),
                );
            }
            Err(e) => self.history.complete(op, classify(e)),
        }
        result
    }
    fn committed(&self) -> u64 {
        self.inner.committed()
    }
    fn first_version(&self) -> u64 {
        self.inner.first_version()
    }
    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.inner.wait_committed(after).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.inner.load_snapshot().await
    }
    async fn compact(&self, through: u64) -> Result<()> {
        self.inner.compact(through).await
    }
    fn role(&self) -> Role {
        self.inner.role()
    }
    async fn read_barrier(&self) -> Result<u64> {
        self.inner.read_barrier().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use rig_core::MemLog;

    use super::*;
    use crate::check::log::{check_log, LogAnomaly};

    fn id(op: &Operation) -> u64 {
        op.method.parse().unwrap()
    }

    #[test]
    fn records_a_lost_entry_after_a_wipe() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let history = LogHistory::new();
            let log = RecordingLog::new(MemLog::new(), history.clone(), 1, id);
            let d = Durability::Local;
            log.append(vec![Operation::new("1", "")], d).await.unwrap();
            log.append(vec![Operation::new("2", "")], d).await.unwrap();
            log.inner()
                .fail_next_append(Error::Unavailable { reason: "x".into() }, false);
            assert!(log.append(vec![Operation::new("3", "")], d).await.is_err());
            log.read(1, 10).await.unwrap();
            assert_eq!(check_log(&history.ops()), vec![]);
            // A "disk loss": a new empty log read by the same history loses acknowledged entries.
            let wiped = RecordingLog::new(MemLog::new(), history.clone(), 2, id);
            wiped.read(1, 10).await.unwrap();
            let found = check_log(&history.ops());
            assert!(
                found.contains(&LogAnomaly::LostAck { id: 2, version: 2 }),
                "{found:?}"
            );
        });
    }
}
