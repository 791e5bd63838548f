//! The log checker: finds lost acknowledged appends, holes, duplicates, divergence between
//! readers, phantom entries, real-time order violations and failed-but-visible appends in a
//! [`LogHistory`].
//!
//! Entries are identified by unique `u64` ids chosen by the test (one id per appended entry).
//! Runs in `O(n log n)` in the size of the history plus the entries read.

use std::collections::HashMap;
use std::fmt;

use crate::history::{History, Op, OpId};

/// What a client did to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogCall {
    /// Appended one batch: these entry ids, in order.
    Append(Vec<u64>),
    /// Read entries from `from` on.
    Read {
        /// The first version asked for.
        from: u64,
    },
}

/// What the log returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogReturn {
    /// The batch's first version.
    Appended(u64),
    /// `(version, id)` of each entry read. With `to_end`, the reader read until the log had
    /// nothing more, so the last version read (or `from - 1`) was the committed version then.
    Read {
        /// The entries, in the order returned.
        entries: Vec<(u64, u64)>,
        /// Whether the read went through the end of the committed log.
        to_end: bool,
    },
}

/// A history of log operations.
pub type LogHistory = History<LogCall, LogReturn>;

/// One anomaly the checker found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogAnomaly {
    /// An acknowledged entry is missing at its version from a read that began after the ack.
    LostAck {
        /// The entry.
        id: u64,
        /// Its acknowledged version.
        version: u64,
    },
    /// A read skipped versions (or did not start where it asked).
    Hole {
        /// The read.
        read: OpId,
        /// The version expected next.
        expected: u64,
        /// The version returned instead.
        got: u64,
    },
    /// One entry appears at two versions.
    Duplicate {
        /// The entry.
        id: u64,
        /// The two versions.
        versions: (u64, u64),
    },
    /// Two reads saw different entries at the same version.
    Divergence {
        /// The version.
        version: u64,
        /// The two entries seen there.
        ids: (u64, u64),
    },
    /// An entry in the log that no append ever carried.
    Phantom {
        /// The entry.
        id: u64,
        /// Where it was seen.
        version: u64,
    },
    /// An append that completed before another was invoked got the higher version.
    RealTimeOrder {
        /// The first entry of the append that completed first.
        earlier: u64,
        /// The first entry of the append invoked after it.
        later: u64,
    },
    /// An append reported as definitely failed is visible in the log.
    FailedButVisible {
        /// The entry.
        id: u64,
        /// Where it was seen.
        version: u64,
    },
    /// An entry was read at a version other than the one its append acknowledged.
    WrongVersion {
        /// The entry.
        id: u64,
        /// The acknowledged version.
        acked: u64,
        /// The version it was read at.
        seen: u64,
    },
}

impl fmt::Display for LogAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The anomalies found in a history, sorted; empty when the history is valid.
///
/// ```
/// use rig_testkit::check::log::{check_log, LogAnomaly, LogCall, LogHistory, LogReturn};
/// use rig_testkit::history::Completion;
/// let h = LogHistory::new();
/// let a = h.invoke(1, LogCall::Append(vec![10]));
/// h.complete(a, Completion::Ok(LogReturn::Appended(1)));
/// let r = h.invoke(2, LogCall::Read { from: 1 });
/// h.complete(r, Completion::Ok(LogReturn::Read { entries: vec![], to_end: true }));
/// assert_eq!(check_log(&h.ops()), vec![LogAnomaly::LostAck { id: 10, version: 1 }]);
/// ```
pub fn check_log(ops: &[Op<LogCall, LogReturn>]) -> Vec<LogAnomaly> {
    let mut found = Vec::new();
    let appends = index_appends(ops);
    let seen = scan_reads(ops, &appends, &mut found);
    check_acks(ops, &seen, &mut found);
    check_real_time(ops, &seen, &mut found);
    found.sort();
    found.dedup();
    found
}

/// Entry id → the append that carried it.
fn index_appends(ops: &[Op<LogCall, LogReturn>]) -> HashMap<u64, &Op<LogCall, LogReturn>> {
    let mut by_id = HashMap::new();
    for op in ops {
        if let LogCall::Append(ids) = &op.input {
            for id in ids {
                by_id.insert(*id, op);
            }
        }
    }
    by_id
}

/// What completed reads saw: version → id and id → version (first sighting), plus each
/// to-end read's (invocation time, committed version then).
struct Seen {
    at: HashMap<u64, u64>,
    version_of: HashMap<u64, u64>,
    /// `(invoked, end)` of to-end reads, sorted by invocation, with a suffix minimum of `end`.
    ends: Vec<(u64, u64)>,
}

fn scan_reads(
    ops: &[Op<LogCall, LogReturn>],
    appends: &HashMap<u64, &Op<LogCall, LogReturn>>,
    found: &mut Vec<LogAnomaly>,
) -> Seen {
    let mut seen = Seen {
        at: HashMap::new(),
        version_of: HashMap::new(),
        ends: Vec::new(),
    };
    for op in ops {
        let (LogCall::Read { from }, Some(LogReturn::Read { entries, to_end })) =
            (&op.input, op.ok())
        else {
            continue;
        };
        let mut expected = *from;
        for &(version, id) in entries {
            if version != expected {
                found.push(LogAnomaly::Hole {
                    read: op.id,
                    expected,
                    got: version,
                });
            }
            expected = version + 1;
            match appends.get(&id) {
                None => found.push(LogAnomaly::Phantom { id, version }),
                Some(a) if a.failed() => found.push(LogAnomaly::FailedButVisible { id, version }),
                Some(_) => {}
            }
            match seen.at.get(&version) {
                Some(&other) if other != id => {
                    found.push(LogAnomaly::Divergence {
                        version,
                        ids: (other.min(id), other.max(id)),
                    });
                }
                Some(_) => {}
                None => {
                    seen.at.insert(version, id);
                }
            }
            match seen.version_of.get(&id) {
                Some(&v) if v != version => {
                    found.push(LogAnomaly::Duplicate {
                        id,
                        versions: (v.min(version), v.max(version)),
                    });
                }
                Some(_) => {}
                None => {
                    seen.version_of.insert(id, version);
                }
            }
        }
        if *to_end {
            seen.ends.push((op.invoked, expected - 1));
        }
    }
    seen.ends.sort_unstable();
    for i in (0..seen.ends.len().saturating_sub(1)).rev() {
        seen.ends[i].1 = seen.ends[i].1.min(seen.ends[i + 1].1);
    }
    seen
}

/// The smallest committed version any to-end read invoked after `time` saw.
fn min_end_after(seen: &Seen, time: u64) -> Option<u64> {
    let i = seen.ends.partition_point(|(invoked, _)| *invoked <= time);
    seen.ends.get(i).map(|(_, end)| *end)
}

fn check_acks(ops: &[Op<LogCall, LogReturn>], seen: &Seen, found: &mut Vec<LogAnomaly>) {
    for op in ops {
        let (LogCall::Append(ids), Some(LogReturn::Appended(first))) = (&op.input, op.ok()) else {
            continue;
        };
        let min_end = min_end_after(seen, op.completed_at());
        for (i, &id) in ids.iter().enumerate() {
            let version = first + i as u64;
            if let Some(&v) = seen.version_of.get(&id) {
                if v != version {
                    found.push(LogAnomaly::WrongVersion {
                        id,
                        acked: version,
                        seen: v,
                    });
                }
            }
            let replaced = seen.at.get(&version).is_some_and(|&other| other != id);
            let truncated = min_end.is_some_and(|end| end < version);
            if replaced || truncated {
                found.push(LogAnomaly::LostAck { id, version });
            }
        }
    }
}

/// The versions an append landed at (first, last, first entry id): from its ack, else from where
/// its first entry was seen.
fn version_of(op: &Op<LogCall, LogReturn>, seen: &Seen) -> Option<(u64, u64, u64)> {
    let LogCall::Append(ids) = &op.input else {
        return None;
    };
    let first_id = *ids.first()?;
    let first = match op.ok() {
        Some(LogReturn::Appended(v)) => *v,
        _ => *seen.version_of.get(&first_id)?,
    };
    Some((first, first + ids.len() as u64 - 1, first_id))
}

fn check_real_time(ops: &[Op<LogCall, LogReturn>], seen: &Seen, found: &mut Vec<LogAnomaly>) {
    // Completed appends by completion time, with a running maximum of their versions.
    let mut done: Vec<(u64, u64, u64)> = ops
        .iter()
        .filter(|op| op.ok().is_some())
        .filter_map(|op| version_of(op, seen).map(|(_, last, id)| (op.completed_at(), last, id)))
        .collect();
    done.sort_unstable();
    let mut running: Vec<(u64, u64)> = Vec::with_capacity(done.len());
    for &(_, v, id) in &done {
        let best = running
            .last()
            .copied()
            .filter(|(bv, _)| *bv >= v)
            .unwrap_or((v, id));
        running.push(best);
    }
    for op in ops {
        let Some((version, _, id)) = version_of(op, seen) else {
            continue;
        };
        let before = done.partition_point(|(t, _, _)| *t < op.invoked);
        if let Some(&(max_v, earlier)) = before.checked_sub(1).map(|i| &running[i]) {
            if max_v >= version {
                found.push(LogAnomaly::RealTimeOrder { earlier, later: id });
            }
        }
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
