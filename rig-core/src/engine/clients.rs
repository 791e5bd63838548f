//! The latest result per client, for exactly-once retries (DESIGN §3.7).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::ClientSeq;

/// One client's latest applied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastResult {
    pub(crate) seq: u64,
    pub(crate) version: u64,
    /// The service's output, JSON-encoded.
    pub(crate) output: Bytes,
}

/// What to do with an incoming request that carries a client sequence number.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never applied: run it.
    New,
    /// Already applied: answer with the stored result.
    Duplicate(LastResult),
    /// Older than the latest applied request of that client: refuse it.
    Stale { latest: u64 },
}

/// Latest result per client id, ordered (BTreeMap) so snapshots are deterministic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ClientTable {
    pub(crate) last: BTreeMap<u64, LastResult>,
}

impl ClientTable {
    pub(crate) fn check(&self, c: ClientSeq) -> Seen {
        match self.last.get(&c.client) {
            Some(l) if l.seq == c.seq => Seen::Duplicate(l.clone()),
            Some(l) if l.seq > c.seq => Seen::Stale { latest: l.seq },
            _ => Seen::New,
        }
    }

    pub(crate) fn record(&mut self, c: ClientSeq, version: u64, output: Bytes) {
        self.last.insert(
            c.client,
            LastResult {
                seq: c.seq,
                version,
                output,
            },
        );
    }
}
