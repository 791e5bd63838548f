//! Applying logged operations: the one path used by recovery, catch-up, followers and acks.

use super::clients::{ClientTable, Seen};
use super::Executed;
use crate::{Error, Operation, Rejection, Result, Service};

/// What the engine knows about applied state, besides the service itself.
#[derive(Debug, Default)]
pub(crate) struct ApplyState {
    /// The last version applied (or skipped as a duplicate).
    pub(crate) applied: u64,
    pub(crate) clients: ClientTable,
    pub(crate) ops_since_snapshot: u64,
    pub(crate) bytes_since_snapshot: u64,
}

impl ApplyState {
    /// Applies `op` at `version`, which MUST be `applied + 1`.
    ///
    /// The outer `Err` is fatal (it poisons the engine); the inner result is the caller's answer.
    /// An operation whose client sequence was already applied is skipped (it is a retry that was
    /// logged twice), so it takes effect exactly once; its caller gets the original result.
    pub(crate) async fn apply<S: Service>(
        &mut self,
        service: &mut S,
        version: u64,
        op: &Operation,
    ) -> Result<Result<Executed<S::Output>>> {
        if version != self.applied + 1 {
            return Err(Error::corrupt(
                format!("version {version}"),
                format!(
                    "out of order apply: the last applied version is {}",
                    self.applied
                ),
            ));
        }
        self.applied = version;
        self.ops_since_snapshot += 1;
        self.bytes_since_snapshot += op.data.len() as u64;
        if let Some(c) = op.client {
            match self.clients.check(c) {
                Seen::New => {}
                Seen::Duplicate(last) => return Ok(decode_cached(last.version, &last.output)),
                Seen::Stale { latest } => return Ok(Err(stale(c.client, c.seq, latest))),
            }
        }
        let output = service
            .apply(version, op)
            .await
            .map_err(|e| Error::Poisoned {
                cause: format!(
                    "service apply failed at version {version} ({}): {e}",
                    op.method
                ),
            })?;
        if let Some(c) = op.client {
            let encoded = serde_json::to_vec(&output).map_err(|e| Error::Poisoned {
                cause: format!(
                    "cannot encode the output of version {version} for the client table: {e}"
                ),
            })?;
            self.clients.record(c, version, encoded.into());
        }
        Ok(Ok(Executed { version, output }))
    }
}

/// The stored result of an already applied request.
pub(crate) fn decode_cached<O: serde::de::DeserializeOwned>(
    version: u64,
    output: &[u8],
) -> Result<Executed<O>> {
    serde_json::from_slice(output)
        .map(|output| Executed { version, output })
        .map_err(|e| {
            Error::corrupt(
                format!("client table entry of version {version}"),
                e.to_string(),
            )
        })
}

/// The rejection for a request older than its client's latest.
pub(crate) fn stale(client: u64, seq: u64, latest: u64) -> Error {
    Error::Rejected(Rejection::new(
        "stale_sequence",
        format!(
            "client {client} sequence {seq} is older than its latest applied sequence {latest}"
        ),
    ))
}
