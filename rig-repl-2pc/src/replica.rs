//! The replica's side of the protocol as a pure function: a message, the current state and the
//! session with the current primary in; the records to persist and the replies to send out. The
//! link's task queues the records at once and sends the replies only once they are durable
//! (`node.rs`), so a `Prepared` always means "durable here".
//!
//! A replica never discards an entry its primary may have acknowledged: on `Sync` it keeps every
//! prepared entry at or below the primary's commit point and checks it against the primary's
//! copy (`Fetch`/`Entries`); it rolls back only entries past both commit points, which no
//! primary acknowledged. It commits only entries it knows match the primary's log
//! ([`Session::matched`]), so a stale prepared entry left by another primary is never committed
//! by a `Commit` that was meant for a different entry at the same version.

use bytes::BytesMut;
use rig_core::{Operation, Snapshot};

use crate::proto::{Msg, MAX_SNAPSHOT};
use crate::state::{LogState, Record};

/// What a replica knows about its current primary, for one link (begun by `Sync`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The highest version known to hold the same entry as the primary's log: everything
    /// committed, plus what this session's `Prepare`/`Entries` wrote or confirmed. Only entries
    /// through `matched` are committed or reported to the primary.
    pub(crate) matched: u64,
    /// A snapshot being received: its version, total size, and the bytes so far.
    pub(crate) incoming: Option<(u64, u64, BytesMut)>,
}

/// What a replica does with one message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Records to make durable, in order, before replying.
    pub(crate) records: Vec<Record>,
    /// Replies to the sender, after the records are durable.
    pub(crate) replies: Vec<Msg>,
    /// The primary that sent the message, when it announced itself.
    pub(crate) primary: Option<String>,
    /// A snapshot from the primary to install (after the records): everything through its
    /// version is committed there.
    pub(crate) install: Option<Snapshot>,
}

/// Decides how a replica in `state`, following a primary as `session` records, handles `msg`.
/// `session` is updated in place.
pub(crate) fn on_message(state: &LogState, session: &mut Session, msg: Msg) -> Decision {
    let mut d = Decision::default();
    let epoch = msg.epoch();
    if epoch < state.epoch() {
        // An old primary: refuse, and tell it who won.
        d.replies.push(Msg::Fenced {
            epoch: state.epoch(),
        });
        return d;
    }
    if epoch > state.epoch() {
        d.records.push(Record::Epoch { epoch });
    }
    let (last, committed) = (state.last(), state.committed());
    let matched = session.matched.max(committed);
    match msg {
        Msg::Sync {
            primary,
            committed: theirs,
            last: their_last,
            ..
        } => {
            d.primary = Some(primary);
            if their_last < committed {
                // This node committed entries the primary does not even hold: it diverged (a
                // primary that ran alone was replaced). Refuse to follow rather than mix logs.
                tracing::error!(
                    mine = committed,
                    theirs = their_last,
                    "replica committed more than the primary holds; refusing to follow"
                );
                return Decision::default();
            }
            // Entries through the primary's commit point may have been acknowledged: keep them
            // (they are checked against the primary's copies below, before being committed).
            // Entries past both commit points were never acknowledged by anyone (a primary
            // acknowledges only what it committed, a restarted one announces its whole durable
            // prepared tail as committed until it recommitted it, and a promoted replica
            // commits all it holds): drop them, the primary prepares its own tail again. Committed entries past
            // the primary's commit point are its prepared tail, which it commits again.
            let keep = committed.max(theirs);
            if last > keep {
                d.records.push(Record::Rollback { from: keep + 1 });
            }
            session.matched = committed;
            d.replies.push(if theirs > committed {
                Msg::Fetch {
                    epoch,
                    from: committed + 1,
                }
            } else {
                Msg::Prepared {
                    epoch,
                    round: 0,
                    last: committed,
                }
            });
        }
        Msg::Prepare {
            round,
            first,
            ops,
            committed: theirs,
            ..
        } => write(state, session, &mut d, (epoch, round), first, ops, theirs),
        Msg::Entries {
            from,
            ops,
            committed: theirs,
            ..
        } => write(state, session, &mut d, (epoch, 0), from, ops, theirs),
        Msg::Commit { through, .. } => {
            let upto = through.min(matched);
            if upto > committed {
                d.records.push(Record::Commit { through: upto });
            }
            if through > matched {
                d.replies.push(Msg::Fetch {
                    epoch,
                    from: matched + 1,
                });
            }
        }
        Msg::Rollback { round, from, .. } => {
            let from = from.max(committed + 1);
            if from <= last {
                d.records.push(Record::Rollback { from });
            }
            session.matched = matched.min(from - 1);
            // Tell the primary where this log ends now, so its next round reaches us.
            d.replies.push(Msg::Prepared {
                epoch,
                round,
                last: session.matched,
            });
        }
        Msg::Snapshot {
            version,
            offset,
            total,
            data,
            ..
        } => {
            let Some(snapshot) = assemble(session, version, offset, total, &data) else {
                return d;
            };
            if version > committed {
                d.install = Some(snapshot);
            }
            session.matched = matched.max(version);
            d.replies.push(Msg::Fetch {
                epoch,
                from: session.matched + 1,
            });
        }
        Msg::Prepared { .. } | Msg::Fetch { .. } | Msg::Fenced { .. } => {
            tracing::warn!(?msg, "replica got a message meant for a primary; ignored");
        }
    }
    d
}

/// A `Prepare` (of round `round`) or `Entries` (round 0): the primary's entries `first..`, and
/// its commit point `theirs`.
fn write(
    state: &LogState,
    session: &mut Session,
    d: &mut Decision,
    (epoch, round): (u64, u64),
    first: u64,
    ops: Vec<Operation>,
    theirs: u64,
) {
    let matched = session.matched.max(state.committed());
    if first > matched + 1 {
        // Something before `first` is missing or unchecked: ask for it first.
        d.replies.push(Msg::Fetch {
            epoch,
            from: matched + 1,
        });
        return;
    }
    let end = first + ops.len() as u64; // exclusive
    reconcile(state, &mut d.records, first, ops);
    session.matched = matched.max(end - 1);
    let through = theirs.min(session.matched);
    if through > state.committed() {
        d.records.push(Record::Commit { through });
    }
    d.replies.push(if theirs > session.matched {
        Msg::Fetch {
            epoch,
            from: session.matched + 1,
        }
    } else {
        Msg::Prepared {
            epoch,
            round,
            last: session.matched,
        }
    });
}

/// Adds a snapshot chunk to `session`'s incoming snapshot; returns the snapshot once whole.
/// Chunks arrive in order on one link: one that does not continue the snapshot in progress
/// drops it (the replica asks again at the primary's next message).
fn assemble(
    session: &mut Session,
    version: u64,
    offset: u64,
    total: u64,
    data: &[u8],
) -> Option<Snapshot> {
    if offset == 0 {
        if total > MAX_SNAPSHOT {
            tracing::warn!(total, "snapshot too large to receive; ignored");
            session.incoming = None;
            return None;
        }
        session.incoming = Some((version, total, BytesMut::new()));
    }
    let continues = matches!(&session.incoming,
        Some((v, t, buf)) if (*v, *t, buf.len() as u64) == (version, total, offset));
    if !continues {
        tracing::warn!(version, offset, "out-of-order snapshot chunk; dropped");
        session.incoming = None;
        return None;
    }
    let (_, _, buf) = session.incoming.as_mut()?;
    buf.extend_from_slice(data);
    if (buf.len() as u64) < total {
        return None;
    }
    let (version, _, buf) = session.incoming.take()?;
    Some(Snapshot {
        version,
        data: buf.freeze(),
    })
}

/// The records that make the log hold `ops` at versions `first..`. Committed entries and held
/// entries equal to the primary's are kept as they are (not rewritten); from the first held
/// entry that differs on, the log is rolled back and rewritten.
fn reconcile(state: &LogState, records: &mut Vec<Record>, first: u64, ops: Vec<Operation>) {
    let end = first + ops.len() as u64; // exclusive
    let last = state.last();
    let mut v = first.max(state.committed() + 1);
    while v < end && v <= last && state.get(v) == Some(&ops[(v - first) as usize]) {
        v += 1;
    }
    if v >= end {
        return;
    }
    if v <= last {
        records.push(Record::Rollback { from: v });
    }
    let from = (v - first) as usize;
    records.extend(
        ops.into_iter()
            .enumerate()
            .skip(from)
            .map(|(i, op)| Record::Prepare {
                version: first + i as u64,
                op,
            }),
    );
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
