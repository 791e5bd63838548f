//! A round in flight on the primary, and the task that watches the `Commit` records' fsync.
//!
//! Several rounds are in flight at once (up to [`WINDOW`]): each one's Prepare goes out as soon
//! as it is formed, the replicas prepare them in version order, and they commit strictly in
//! version order (the oldest round first; one `Commit` covers every round ready together).

use std::sync::Arc;
use tokio::time::Instant;

use bytes::Bytes;
use rig_core::{AppendFuture, Error};
use tokio::sync::mpsc;

use crate::node::{Batch, Node};

/// The most rounds in flight at once by default ([`Config::max_rounds_in_flight`]). More rounds
/// overlap more fsyncs and round trips; the bound keeps what a failure rolls back (and what
/// waits behind a slow replica) small.
///
/// [`Config::max_rounds_in_flight`]: crate::Config::max_rounds_in_flight
pub(crate) const WINDOW: usize = 8;

/// The most operations one round carries.
pub(crate) const MAX_ROUND_OPS: usize = 4096;

/// One round: its versions, its Prepare, and how far it got on each node.
#[derive(Debug)]
pub(crate) struct Round {
    /// This round's id: only a `Prepared` echoing it acknowledges the round.
    pub(crate) id: u64,
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// The commit point its Prepare carries (the primary's when the round was formed).
    pub(crate) committed: u64,
    pub(crate) prepare: Bytes,
    /// Whether the Prepare went out on the replica's current link.
    pub(crate) sent: Vec<bool>,
    /// Whether the Prepare ever went out to the replica (it may hold it durably).
    pub(crate) reached: Vec<bool>,
    /// Whether the replica answered this round's Prepare (on the link it went out on).
    pub(crate) acked: Vec<bool>,
    /// Whether the local `Prepare` records are durable.
    pub(crate) local: bool,
    /// When the round started: its timeout counts from here.
    pub(crate) started: Instant,
    /// The appends it carries (none for the recommitted tail of a previous run).
    pub(crate) batches: Vec<Batch>,
}

impl Round {
    /// The error this round's waiters get when it is rolled back for `reason` (a replica did
    /// not prepare in time). A replica that got the Prepare may hold it durably, and if it were
    /// promoted it would commit it: only a round no replica saw surely failed.
    pub(crate) fn failed(&self, reason: &str) -> Error {
        let reason = format!("versions {}..={}: {reason}", self.first, self.last);
        if self.reached.iter().any(|&r| r) {
            Error::OutcomeUnknown { reason }
        } else {
            Error::Unavailable { reason }
        }
    }

    /// Fails every append of the round with `e`.
    pub(crate) fn fail(self, e: &Error) {
        for b in self.batches {
            let _ = b.done.send(Err(e.clone()));
        }
    }
}

/// A committed round's local `Commit` record on its way to disk. Its ops are acknowledged
/// already (they are durably prepared here and on every required replica, and every reopen
/// commits them); a failed write stops the node.
pub(crate) type CommitRecord = AppendFuture;

/// Watches the local `Commit` records' durability, in the order they were written: a failed
/// write stops the node (a failed fsync is never retried), so it acknowledges nothing more.
pub(crate) async fn watch_commit_records(
    node: Arc<Node>,
    mut records: mpsc::UnboundedReceiver<CommitRecord>,
) {
    while let Some(synced) = records.recv().await {
        if let Err(e) = synced.await {
            tracing::error!(error = %e, "primary failed to persist a commit; stopping");
            node.stop(e);
            return;
        }
    }
}
