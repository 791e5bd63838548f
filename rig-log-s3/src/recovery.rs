//! Opening a log: take a writer epoch, find the chain of batches, check it for holes, and fence
//! any older writer by claiming the next slot.
//!
//! # The chain
//! Batches are named by their first version, so batch `LOG/k` holding `n` entries is followed by
//! `LOG/k+n`. The chain starts at the lowest listed key and is followed by key arithmetic; only
//! listed keys are read. A key off the chain is debris from a fenced writer (a pipelined PUT that
//! landed after its predecessor lost its slot): it was never acknowledged. The chain ends at the
//! first missing key, at a fence marker, or at a batch whose epoch is lower than its predecessor's
//! (debris that landed exactly on the next slot).
//!
//! # Holes
//! Every batch records `durable_through`, the highest version its writer knew durable when it
//! sealed it. A listed batch past the end `X` of the chain whose `durable_through >= X` proves an
//! acknowledged batch at `X` is missing: the log is [`rig_core::Error::Corrupt`], never silently
//! shortened.

use std::collections::BTreeMap;

use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, UpdateVersion};
use rig_core::{Error, Result};

use crate::format::{
    decode_batch, decode_batch_header, decode_pointer, encode_batch, encode_pointer, BatchHeader,
};
use crate::io::{fetch, is_conflict, list_versions, store_error};
use crate::layout::Layout;
use crate::put::{claim_slot, Claim, OnTaken, Retry, Slot};

pub(crate) const WRITER_TAG: &str = "RIGWRITER";
pub(crate) const LATEST_TAG: &str = "RIGLATEST";

/// What a newly opened writer knows.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) epoch: u64,
    /// The newest snapshot's version (0: none).
    pub(crate) latest: u64,
    /// Durable batches on the chain: first version -> entry count.
    pub(crate) index: BTreeMap<u64, u32>,
    /// The next version to assign (the fence marker's key).
    pub(crate) next: u64,
    /// The version of this writer's fence marker at `next`, replaced by its first batch.
    pub(crate) marker: UpdateVersion,
}

/// How many times `open` moves its fence marker past a batch of an older writer before it gives
/// up. An older writer stops sealing once it sees the newer epoch in `WRITER` (so only its
/// in-flight batches can land first); the bound turns a writer that never looks (a foreign or
/// broken one) into a clear error instead of an endless loop.
pub(crate) const MAX_FENCE_ROUNDS: u32 = 1000;

/// Reads the current writer epoch and its object version (`None`: no writer yet).
pub(crate) async fn read_epoch(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<Option<(u64, UpdateVersion)>> {
    let path = layout.writer();
    match fetch(store, &path).await? {
        None => Ok(None),
        Some((bytes, version)) => {
            let epoch = decode_pointer(WRITER_TAG, &bytes)
                .map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
            Ok(Some((epoch, version)))
        }
    }
}

/// Takes the next writer epoch with a compare-and-swap on `WRITER`.
pub(crate) async fn claim_epoch(store: &dyn ObjectStore, layout: &Layout) -> Result<u64> {
    let path = layout.writer();
    for _ in 0..64 {
        let (current, mode) = match read_epoch(store, layout).await? {
            None => (0, PutMode::Create),
            Some((epoch, version)) => (epoch, PutMode::Update(version)),
        };
        let next = current + 1;
        match store
            .put_opts(
                &path,
                encode_pointer(WRITER_TAG, next).into(),
                PutOptions::from(mode),
            )
            .await
        {
            Ok(_) => return Ok(next),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => {
                return Err(store_error(
                    format!("claim writer epoch {next} at {path}"),
                    e,
                ))
            }
        }
    }
    Err(Error::Unavailable {
        reason: format!("could not claim a writer epoch at {path}: too many concurrent openers"),
    })
}

/// Reads `LATEST` (0 when absent).
pub(crate) async fn read_latest(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<Option<(u64, UpdateVersion)>> {
    let path = layout.latest();
    match fetch(store, &path).await? {
        None => Ok(None),
        Some((bytes, version)) => {
            let v = decode_pointer(LATEST_TAG, &bytes)
                .map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
            Ok(Some((v, version)))
        }
    }
}

/// Opens the log for writing: epoch, chain, hole check, fence.
pub(crate) async fn recover(
    store: &dyn ObjectStore,
    layout: &Layout,
    retry: Retry,
    put_id: u64,
) -> Result<Recovered> {
    let epoch = claim_epoch(store, layout).await?;
    let Scan {
        latest,
        mut index,
        mut next,
        mut tail_epoch,
        ..
    } = scan(store, layout, epoch, None).await?;
    // Fence: claim the next slot with an empty marker. An older writer's batch that landed there
    // meanwhile joins the chain (it may have been acknowledged) and the claim moves on. The older
    // writer stops sealing once it sees this writer's epoch in `WRITER`, so after its in-flight
    // batches the slot is free; a writer that never stops is reported, not chased forever.
    for _ in 0..MAX_FENCE_ROUNDS {
        let mine = BatchHeader {
            epoch,
            put_id,
            first: next,
            count: 0,
            durable_through: next - 1,
        };
        let path = layout.log(next);
        let floor = tail_epoch;
        let claim = claim_slot(
            store,
            &path,
            encode_batch(mine, &[]),
            mine,
            Slot::Empty,
            retry,
            |h| {
                if h.epoch > epoch || (h.count > 0 && h.epoch >= floor) {
                    OnTaken::Stop
                } else {
                    OnTaken::Replace
                }
            },
        )
        .await?;
        match claim {
            Claim::Written(marker) => {
                return Ok(Recovered {
                    epoch,
                    latest,
                    index,
                    next,
                    marker,
                });
            }
            Claim::Taken(batch) if batch.header.epoch > epoch => {
                return Err(fenced(epoch, batch.header.epoch, &path));
            }
            Claim::Taken(batch) => {
                tracing::info!(%path, epoch = batch.header.epoch, "s3-log: an older writer's batch landed at the fence slot; replaying it");
                tail_epoch = batch.header.epoch;
                index.insert(next, batch.header.count);
                next += u64::from(batch.header.count);
            }
        }
    }
    Err(Error::Unavailable {
        reason: format!(
            "could not fence the log at {}: an older writer (epoch {tail_epoch}) wrote {MAX_FENCE_ROUNDS} \
             more batches past each fence slot and does not stop; writer epoch {epoch} gives up",
            layout.log(next)
        ),
    })
}

/// The chain as a reader sees it (see the module docs).
#[derive(Debug)]
pub(crate) struct Scan {
    /// The newest snapshot's version (0: none).
    pub(crate) latest: u64,
    /// The chain's first version.
    pub(crate) start: u64,
    /// Batches on the chain: first version -> entry count.
    pub(crate) index: BTreeMap<u64, u32>,
    /// The version after the chain's last batch.
    pub(crate) next: u64,
    /// The epoch of the chain's last batch (0: none).
    pub(crate) tail_epoch: u64,
}

/// Lists `LOG/`, walks the chain and checks it for holes. A batch of an epoch above `max_epoch`
/// is [`Error::Fenced`] (a writer passes its own epoch; a reader `u64::MAX`). With `limit`, the
/// walk stops at the batch holding `limit` and the keys past it are not checked.
pub(crate) async fn scan(
    store: &dyn ObjectStore,
    layout: &Layout,
    max_epoch: u64,
    limit: Option<u64>,
) -> Result<Scan> {
    let latest = read_latest(store, layout).await?.map_or(0, |(v, _)| v);
    let keys = list_versions(store, &layout.log_dir()).await?;
    let start = match keys.keys().next() {
        None => latest + 1,
        Some(&lowest) => {
            if lowest > latest + 1 {
                return Err(Error::corrupt(
                    layout.log(latest + 1).to_string(),
                    format!(
                        "missing log batch: versions {}..{} are neither in a snapshot (LATEST is {latest}) nor in the log, which starts at {}",
                        latest + 1,
                        lowest - 1,
                        layout.log(lowest)
                    ),
                ));
            }
            lowest
        }
    };
    let mut index = BTreeMap::new();
    let (next, tail_epoch) =
        walk_chain(store, layout, &keys, start, 0, max_epoch, limit, &mut index).await?;
    if limit.is_some_and(|v| v < next) {
        return Ok(Scan {
            latest,
            start,
            index,
            next,
            tail_epoch,
        });
    }
    check_past_end(store, layout, &keys, next, max_epoch).await?;
    if latest >= next {
        return Err(Error::corrupt(
            layout.latest().to_string(),
            format!(
                "LATEST names snapshot {latest} but the log ends at version {}",
                next - 1
            ),
        ));
    }
    Ok(Scan {
        latest,
        start,
        index,
        next,
        tail_epoch,
    })
}

/// Follows the chain through the listed `keys` from `next` (whose predecessor has epoch
/// `tail_epoch`), adding its batches to `index`; returns the new `(next, tail_epoch)`. Stops at
/// the first missing key, a fence marker, debris (an epoch below its predecessor's), or once
/// `limit` is inside the chain.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn walk_chain(
    store: &dyn ObjectStore,
    layout: &Layout,
    keys: &BTreeMap<u64, Path>,
    mut next: u64,
    mut tail_epoch: u64,
    max_epoch: u64,
    limit: Option<u64>,
    index: &mut BTreeMap<u64, u32>,
) -> Result<(u64, u64)> {
    while keys.contains_key(&next) && limit.is_none_or(|v| v >= next) {
        let path = layout.log(next);
        let Some((bytes, _)) = fetch(store, &path).await? else {
            return Err(Error::corrupt(
                path.to_string(),
                "listed log batch vanished during replay",
            ));
        };
        let h = decode_batch(&bytes)
            .map(|b| b.header)
            .map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
        if h.first != next {
            return Err(Error::corrupt(
                path.to_string(),
                format!("batch says it starts at version {}", h.first),
            ));
        }
        if h.epoch > max_epoch {
            return Err(fenced(max_epoch, h.epoch, &path));
        }
        if h.epoch < tail_epoch || h.count == 0 {
            break; // debris from a fenced writer, or a fence marker: the chain ends here
        }
        tail_epoch = h.epoch;
        index.insert(next, h.count);
        next += u64::from(h.count);
    }
    Ok((next, tail_epoch))
}

/// Anything listed past the chain's end `next` must be unacknowledged debris; a batch written
/// after `next` was durable proves a missing batch ([`Error::Corrupt`]).
pub(crate) async fn check_past_end(
    store: &dyn ObjectStore,
    layout: &Layout,
    keys: &BTreeMap<u64, Path>,
    next: u64,
    max_epoch: u64,
) -> Result<()> {
    for (&key, path) in keys.range(next + 1..) {
        let Some((bytes, _)) = fetch(store, path).await? else {
            continue;
        };
        let h = decode_batch_header(&bytes)
            .map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
        if h.epoch > max_epoch {
            return Err(fenced(max_epoch, h.epoch, path));
        }
        if h.durable_through >= next {
            return Err(Error::corrupt(
                layout.log(next).to_string(),
                format!(
                    "missing log batch: versions {next}..{} ({}..{}) are not in the store, but {path} (epoch {}) was written after version {} was durable",
                    key - 1,
                    layout.log(next),
                    layout.log(key - 1),
                    h.epoch,
                    h.durable_through
                ),
            ));
        }
        tracing::debug!(%path, epoch = h.epoch, "s3-log: ignoring debris of a fenced writer");
    }
    Ok(())
}

pub(crate) fn fenced(mine: u64, theirs: u64, path: &impl std::fmt::Display) -> Error {
    Error::Fenced {
        reason: format!("{path} was written by writer epoch {theirs}; this writer is epoch {mine}"),
    }
}
