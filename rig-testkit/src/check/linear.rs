//! A linearizability checker for key-value histories: Wing & Gong's search with Lowe's
//! memoization of `(linearized set, state)`, partitioned per key (a register per key is
//! independent of the others), with a step budget that answers [`Linearizable::Unknown`].
//!
//! Operations that definitely failed are dropped; operations with an unknown outcome (or that
//! never completed) may take effect at any point after their invocation, or never.

use std::collections::{BTreeMap, HashSet};

use crate::history::{History, Op, OpId};

/// A key-value operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvCall {
    /// Read the key's value.
    Get(u64),
    /// Set the key to a value.
    Put(u64, u64),
    /// If the key holds `expect`, set it to `new`.
    Cas {
        /// The key.
        key: u64,
        /// The value the key must hold (`None`: absent).
        expect: Option<u64>,
        /// The value to store.
        new: u64,
    },
}

impl KvCall {
    /// The key the operation touches.
    pub fn key(&self) -> u64 {
        match *self {
            Self::Get(k) | Self::Put(k, _) | Self::Cas { key: k, .. } => k,
        }
    }

    /// Applies the call to a register holding `state`: the new state and the return value.
    pub fn apply(&self, state: Option<u64>) -> (Option<u64>, KvReturn) {
        match *self {
            Self::Get(_) => (state, KvReturn::Value(state)),
            Self::Put(_, v) => (Some(v), KvReturn::Done),
            Self::Cas { expect, new, .. } if state == expect => (Some(new), KvReturn::Cas(true)),
            Self::Cas { .. } => (state, KvReturn::Cas(false)),
        }
    }
}

/// What a key-value operation returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvReturn {
    /// A `Get`'s value.
    Value(Option<u64>),
    /// A `Put` took effect.
    Done,
    /// Whether a `Cas` swapped.
    Cas(bool),
}

/// A key-value history.
pub type KvHistory = History<KvCall, KvReturn>;

/// The checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linearizable {
    /// Some order of the operations, consistent with real time, explains every result.
    Yes,
    /// No such order exists for `key`; `ops` are that key's operations.
    No {
        /// The key whose history is not linearizable.
        key: u64,
        /// The operations on that key.
        ops: Vec<OpId>,
    },
    /// The step budget ran out before a verdict (no key was found non-linearizable).
    Unknown,
}

/// Checks a key-value history with at most `budget` search steps in total.
///
/// ```
/// use rig_testkit::check::linear::{check_kv, KvCall, KvHistory, KvReturn, Linearizable};
/// use rig_testkit::history::Completion;
/// let h = KvHistory::new();
/// let put = h.invoke(1, KvCall::Put(7, 1));
/// h.complete(put, Completion::Ok(KvReturn::Done));
/// let get = h.invoke(2, KvCall::Get(7));
/// h.complete(get, Completion::Ok(KvReturn::Value(None))); // stale: the put had completed
/// assert!(matches!(check_kv(&h.ops(), 100_000), Linearizable::No { key: 7, .. }));
/// ```
pub fn check_kv(ops: &[Op<KvCall, KvReturn>], budget: u64) -> Linearizable {
    let mut per_key: BTreeMap<u64, Vec<&Op<KvCall, KvReturn>>> = BTreeMap::new();
    for op in ops.iter().filter(|op| !op.failed()) {
        per_key.entry(op.input.key()).or_default().push(op);
    }
    let mut left = budget;
    let mut unknown = false;
    for (key, ops) in per_key {
        match Search::new(&ops).run(&mut left) {
            Some(true) => {}
            Some(false) => {
                return Linearizable::No {
                    key,
                    ops: ops.iter().map(|o| o.id).collect(),
                }
            }
            None => unknown = true,
        }
    }
    if unknown {
        Linearizable::Unknown
    } else {
        Linearizable::Yes
    }
}

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    call: KvCall,
    /// `None`: any result is acceptable (outcome unknown).
    ret: Option<KvReturn>,
    invoked: u64,
    /// `u64::MAX` when it never completed; such an operation is optional.
    completed: u64,
}

/// A depth-first search over linearization prefixes of one key's operations.
struct Search {
    entries: Vec<Entry>,
    required: usize,
    seen: HashSet<(Vec<u64>, Option<u64>)>,
}

impl Search {
    fn new(ops: &[&Op<KvCall, KvReturn>]) -> Self {
        let mut entries: Vec<Entry> = ops
            .iter()
            // A read whose outcome is unknown constrains nothing.
            .filter(|op| op.ok().is_some() || !matches!(op.input, KvCall::Get(_)))
            .map(|op| Entry {
                call: op.input,
                ret: op.ok().copied(),
                invoked: op.invoked,
                completed: if op.ok().is_some() {
                    op.completed_at()
                } else {
                    u64::MAX
                },
            })
            .collect();
        entries.sort_by_key(|e| e.invoked);
        let required = entries.iter().filter(|e| e.ret.is_some()).count();
        Self {
            entries,
            required,
            seen: HashSet::new(),
        }
    }

    /// `Some(verdict)`, or `None` when the budget ran out.
    fn run(&mut self, budget: &mut u64) -> Option<bool> {
        let words = self.entries.len().div_ceil(64);
        let mut done = vec![0u64; words];
        self.step(&mut done, None, 0, budget)
    }

    fn step(
        &mut self,
        done: &mut Vec<u64>,
        state: Option<u64>,
        required_done: usize,
        budget: &mut u64,
    ) -> Option<bool> {
        if required_done == self.required {
            return Some(true);
        }
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        if !self.seen.insert((done.clone(), state)) {
            return Some(false);
        }
        let is_done = |done: &[u64], i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        // Only an operation invoked before every pending operation's completion can go next.
        let horizon = (0..self.entries.len())
            .filter(|&i| !is_done(done, i))
            .map(|i| self.entries[i].completed)
            .min()
            .unwrap_or(u64::MAX);
        let mut ran_out = false;
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            if e.invoked >= horizon {
                break;
            }
            if is_done(done, i) {
                continue;
            }
            let (next, ret) = e.call.apply(state);
            if e.ret.is_some_and(|want| want != ret) {
                continue;
            }
            done[i / 64] |= 1 << (i % 64);
            let found = self.step(
                done,
                next,
                required_done + usize::from(e.ret.is_some()),
                budget,
            );
            done[i / 64] &= !(1 << (i % 64));
            match found {
                Some(true) => return Some(true),
                Some(false) => {}
                None => ran_out = true,
            }
        }
        if ran_out {
            None
        } else {
            Some(false)
        }
    }
}

#[cfg(test)]
#[path = "linear_tests.rs"]
mod tests;
