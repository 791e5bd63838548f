//! Claiming one `LOG/` slot with a conditional PUT, settling ambiguous outcomes by reading the
//! object back and comparing its put id.

use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, UpdateVersion};
use rig_core::{Error, Result};

use crate::format::{decode_batch, Batch, BatchHeader};
use crate::io::{get, is_conflict, store_error};

/// What the writer expects at the slot.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// Nothing: write create-if-absent.
    Empty,
    /// An object this writer may replace (its own fence marker, or a stale lower-epoch object):
    /// write only if it is still that version.
    Replace(UpdateVersion),
}

/// What the caller wants done when another writer's object holds the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnTaken {
    /// The object may be replaced (conditionally on its version).
    Replace,
    /// Stop and hand the object back.
    Stop,
}

/// How a slot claim ended.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Our object is at the slot, at this version.
    Written(UpdateVersion),
    /// Another writer's object holds the slot and the caller chose [`OnTaken::Stop`].
    Taken(Batch),
}

/// Retry settings for one slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// PUT attempts that end in an error other than a lost condition.
    pub(crate) attempts: u32,
    /// The first backoff; doubled per failed attempt.
    pub(crate) backoff: Duration,
}

/// Writes `bytes` (a batch with header `mine`) at `path`, never over another writer's object
/// unless `on_taken` allows it. A PUT that reports an error may still have landed: the object is
/// read back and recognised by its put id before any retry, so a retry never writes twice and an
/// ambiguous write is never acknowledged without proof.
pub(crate) async fn claim_slot(
    store: &dyn ObjectStore,
    path: &Path,
    bytes: Bytes,
    mine: BatchHeader,
    mut slot: Slot,
    retry: Retry,
    on_taken: impl Fn(&BatchHeader) -> OnTaken,
) -> Result<Claim> {
    let mut failures = 0u32;
    loop {
        let mode = match &slot {
            Slot::Empty => PutMode::Create,
            Slot::Replace(v) => PutMode::Update(v.clone()),
        };
        let failed = match store
            .put_opts(path, bytes.clone().into(), PutOptions::from(mode))
            .await
        {
            Ok(r) => {
                return Ok(Claim::Written(UpdateVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                }))
            }
            Err(e) if is_conflict(&e) => None,
            Err(object_store::Error::NotImplemented { operation, .. }) => {
                return Err(Error::Backend {
                    backend: crate::io::BACKEND,
                    context: format!("put {path}"),
                    source: std::sync::Arc::new(std::io::Error::other(format!(
                        "the object store does not implement {operation}: rig-log-s3 needs \
                         conditional writes (create-if-absent and if-match); for a local \
                         directory use S3Log::open_local"
                    ))),
                })
            }
            Err(e) => Some(e),
        };
        if let Some(e) = &failed {
            failures += 1;
            tracing::warn!(%path, error = %e, failures, "s3-log: put failed; reading back");
        }
        // Settle: who holds the slot now?
        match get(store, path).await {
            Ok(Some((held, version))) => {
                let batch = decode_batch(&held).map_err(|e| {
                    Error::corrupt(
                        path.to_string(),
                        format!("unreadable object at a log slot: {e}"),
                    )
                })?;
                let h = batch.header;
                if h.epoch == mine.epoch && h.put_id == mine.put_id {
                    return Ok(Claim::Written(version));
                }
                match on_taken(&h) {
                    OnTaken::Replace => {
                        slot = Slot::Replace(version);
                        continue;
                    }
                    OnTaken::Stop => return Ok(Claim::Taken(batch)),
                }
            }
            Ok(None) => {
                slot = Slot::Empty;
                if failed.is_none() {
                    continue; // the object vanished between the PUT and the GET: try again
                }
            }
            Err(e) => {
                failures += u32::from(failed.is_none());
                tracing::warn!(%path, error = %e, "s3-log: read-back failed");
                if failures >= retry.attempts {
                    return Err(unknown(path, failures, &e));
                }
            }
        }
        if let Some(e) = &failed {
            if failures >= retry.attempts {
                return Err(unknown(path, failures, e));
            }
        }
        let shift = failures.saturating_sub(1).min(8);
        tokio::time::sleep(retry.backoff * (1 << shift)).await;
    }
}

fn unknown(path: &Path, failures: u32, e: &object_store::Error) -> Error {
    let detail = store_error(format!("put {path}"), clone_error(e));
    Error::OutcomeUnknown {
        reason: format!("{detail} ({failures} failed attempts; the batch may land later)"),
    }
}

fn clone_error(e: &object_store::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "object-store",
        source: e.to_string().into(),
    }
}
