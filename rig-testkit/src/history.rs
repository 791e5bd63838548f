//! [`History`]: a record of invoked and completed operations with logical timestamps.

use std::sync::{Arc, Mutex};

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Completion<R> {
    /// It took effect and returned `R`.
    Ok(R),
    /// It definitely did not take effect (e.g. `Unavailable`, `NotLeader`, `Rejected`).
    Fail(String),
    /// It may or may not have taken effect (`OutcomeUnknown`, a timeout, a crash mid-call).
    Unknown(String),
}

/// Identifies one operation in a [`History`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op<I, R> {
    /// Its id (its index in invocation order).
    pub id: OpId,
    /// The client (process) that ran it; a process runs one operation at a time.
    pub process: u64,
    /// What was asked.
    pub input: I,
    /// Logical time of the invocation.
    pub invoked: u64,
    /// Logical time and outcome of the completion; `None` when it never completed, which
    /// counts as [`Completion::Unknown`].
    pub completed: Option<(u64, Completion<R>)>,
}

impl<I, R> Op<I, R> {
    /// The returned value when the operation completed `Ok`.
    pub fn ok(&self) -> Option<&R> {
        match &self.completed {
            Some((_, Completion::Ok(r))) => Some(r),
            _ => None,
        }
    }

    /// True when the operation definitely failed.
    pub fn failed(&self) -> bool {
        matches!(self.completed, Some((_, Completion::Fail(_))))
    }

    /// The completion time, or `u64::MAX` when it never completed (it may take effect at any
    /// later point).
    pub fn completed_at(&self) -> u64 {
        self.completed.as_ref().map_or(u64::MAX, |(t, _)| *t)
    }
}

#[derive(Debug)]
struct Inner<I, R> {
    ops: Vec<Op<I, R>>,
    clock: u64,
}

/// A concurrent history of operations. Clones share the record; each `invoke` and `complete`
/// takes the next logical timestamp, so the order of events is the order of calls.
///
/// ```
/// use rig_testkit::history::{Completion, History};
/// let h: History<&str, u64> = History::new();
/// let a = h.invoke(1, "append x");
/// let b = h.invoke(2, "append y");
/// h.complete(a, Completion::Ok(1));
/// h.complete(b, Completion::Unknown("leader lost".into()));
/// let ops = h.ops();
/// assert_eq!(ops[0].ok(), Some(&1));
/// assert!(ops[0].invoked < ops[1].invoked && ops[1].invoked < ops[0].completed_at());
/// ```
#[derive(Debug, Clone)]
pub struct History<I, R> {
    inner: Arc<Mutex<Inner<I, R>>>,
}

impl<I, R> Default for History<I, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, R> History<I, R> {
    /// An empty history.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                ops: Vec::new(),
                clock: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<I, R>> {
        self.inner.lock().expect("history lock")
    }

    /// Records that `process` invoked an operation with `input`.
    pub fn invoke(&self, process: u64, input: I) -> OpId {
        let mut inner = self.lock();
        inner.clock += 1;
        let id = OpId(inner.ops.len());
        let invoked = inner.clock;
        inner.ops.push(Op {
            id,
            process,
            input,
            invoked,
            completed: None,
        });
        id
    }

    /// Records the completion of `id`. Panics when it was already completed.
    pub fn complete(&self, id: OpId, completion: Completion<R>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let at = inner.clock;
        let op = &mut inner.ops[id.0];
        assert!(op.completed.is_none(), "operation {id:?} completed twice");
        op.completed = Some((at, completion));
    }

    /// The number of recorded operations.
    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<I: Clone, R: Clone> History<I, R> {
    /// A copy of every operation, in invocation order.
    pub fn ops(&self) -> Vec<Op<I, R>> {
        self.lock().ops.clone()
    }
}
