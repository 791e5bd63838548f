//! The replica's side of the protocol as a pure function: a message and the current state in,
//! the records to persist and the replies to send out. The driver persists the records (one
//! fsync) before it sends the replies, so a `Prepared` always means "durable here".

use crate::proto::Msg;
use crate::state::{LogState, Record};

/// What a replica does with one message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Records to make durable, in order, before replying.
    pub(crate) records: Vec<Record>,
    /// Replies to the sender, after the records are durable.
    pub(crate) replies: Vec<Msg>,
    /// The primary that sent the message, when it announced itself.
    pub(crate) primary: Option<String>,
}

/// Decides how a replica in `state` handles `msg`.
pub(crate) fn on_message(state: &LogState, msg: Msg) -> Decision {
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
    let (mut last, mut committed) = (state.last(), state.committed());
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
            // Uncommitted entries may be left over from an earlier primary session: drop them
            // and fetch the committed prefix from this primary. Committed entries past the
            // primary's commit point are its prepared tail, which it commits again.
            if last > committed {
                d.records.push(Record::Rollback {
                    from: committed + 1,
                });
                last = committed;
            }
            d.replies.push(if theirs > last {
                Msg::Fetch {
                    epoch,
                    from: last + 1,
                }
            } else {
                Msg::Prepared { epoch, last }
            });
        }
        Msg::Prepare {
            first,
            ops,
            committed: theirs,
            ..
        }
        | Msg::Entries {
            from: first,
            ops,
            committed: theirs,
            ..
        } => {
            if first > last + 1 {
                d.replies.push(Msg::Fetch {
                    epoch,
                    from: last + 1,
                });
                return d;
            }
            let end = first + ops.len() as u64; // exclusive
            let start = first.max(committed + 1);
            if start < end {
                if start <= last {
                    d.records.push(Record::Rollback { from: start });
                }
                for v in start..end {
                    let op = ops[(v - first) as usize].clone();
                    d.records.push(Record::Prepare { version: v, op });
                }
                last = end - 1;
            }
            let through = theirs.min(last);
            if through > committed {
                d.records.push(Record::Commit { through });
                committed = through;
            }
            let _ = committed;
            d.replies.push(if theirs > last {
                Msg::Fetch {
                    epoch,
                    from: last + 1,
                }
            } else {
                Msg::Prepared { epoch, last }
            });
        }
        Msg::Commit { through, .. } => {
            let upto = through.min(last);
            if upto > committed {
                d.records.push(Record::Commit { through: upto });
            }
            if through > last {
                d.replies.push(Msg::Fetch {
                    epoch,
                    from: last + 1,
                });
            }
        }
        Msg::Rollback { from, .. } => {
            let from = from.max(committed + 1);
            if from <= last {
                d.records.push(Record::Rollback { from });
                last = from - 1;
            }
            // Tell the primary where this log ends now, so its next round reaches us.
            d.replies.push(Msg::Prepared { epoch, last });
        }
        Msg::Prepared { .. } | Msg::Fetch { .. } | Msg::Fenced { .. } => {
            tracing::warn!(?msg, "replica got a message meant for a primary; ignored");
        }
    }
    d
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
