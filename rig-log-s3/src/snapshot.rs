//! Snapshots (`SNAPSHOT/<v>`, then `LATEST` moved forward with a conditional write) and
//! compaction (delete log batches and snapshots below the retained snapshot).

use futures_util::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use rig_core::{Error, Result, Snapshot};

use crate::format::{decode_snapshot, encode_pointer, encode_snapshot};
use crate::io::{fetch, is_conflict, list_versions, store_error};
use crate::layout::Layout;
use crate::log::Inner;
use crate::recovery::{read_latest, LATEST_TAG};

/// Stores `snapshot` and moves `LATEST` to it unless `LATEST` is already newer.
///
/// A snapshot is written only once every version it covers is durable in the log, so even a
/// writer that was fenced without knowing it never points `LATEST` past what the new writer
/// replayed.
pub(crate) async fn save(inner: &Inner, snapshot: Snapshot) -> Result<()> {
    let v = snapshot.version;
    {
        let s = inner.state();
        if let Some(e) = &s.poison {
            return Err(e.clone());
        }
        if v >= s.next {
            return Err(Error::InvalidArgument(format!(
                "snapshot at version {v} is past the log's end {}",
                s.next - 1
            )));
        }
    }
    inner.durable.wait_for(v).await?;
    let path = inner.layout.snapshot(v);
    inner
        .store
        .put(&path, encode_snapshot(v, &snapshot.data).into())
        .await
        .map_err(|e| store_error(format!("put {path}"), e))?;
    let latest = inner.layout.latest();
    loop {
        let (mode, current) = match read_latest(inner.store.as_ref(), &inner.layout).await? {
            Some((current, _)) if current >= v => {
                inner.state().latest = current;
                return Ok(());
            }
            Some((current, version)) => (PutMode::Update(version), current),
            None => (PutMode::Create, 0),
        };
        match inner
            .store
            .put_opts(
                &latest,
                encode_pointer(LATEST_TAG, v).into(),
                PutOptions::from(mode),
            )
            .await
        {
            Ok(_) => {
                let mut s = inner.state();
                s.latest = s.latest.max(v);
                tracing::debug!(from = current, to = v, "s3-log: LATEST moved");
                return Ok(());
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(store_error(format!("move {latest} to {v}"), e)),
        }
    }
}

/// Loads the snapshot `LATEST` names.
pub(crate) async fn load(inner: &Inner) -> Result<Option<Snapshot>> {
    load_latest(inner.store.as_ref(), &inner.layout).await
}

/// Loads the snapshot `LATEST` names, from any store and layout.
pub(crate) async fn load_latest(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<Option<Snapshot>> {
    let Some((v, _)) = read_latest(store, layout).await? else {
        return Ok(None);
    };
    load_version(store, layout, v, "LATEST names")
        .await
        .map(Some)
}

/// Loads `SNAPSHOT/<v>`, which `why` says must exist.
pub(crate) async fn load_version(
    store: &dyn ObjectStore,
    layout: &Layout,
    v: u64,
    why: &str,
) -> Result<Snapshot> {
    let path = layout.snapshot(v);
    let Some((bytes, _)) = fetch(store, &path).await? else {
        return Err(Error::corrupt(
            path.to_string(),
            format!("{why} snapshot {v} but it is missing"),
        ));
    };
    let (version, data) =
        decode_snapshot(&bytes).map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
    if version != v {
        return Err(Error::corrupt(
            path.to_string(),
            format!("holds version {version}, expected {v}"),
        ));
    }
    Ok(Snapshot { version, data })
}

/// Drops log batches entirely at or below `through` and snapshots older than `LATEST`.
///
/// Order matters for a crash midway: first debris keys below the new start (objects off the
/// chain), then chain batches from the lowest up, so the lowest remaining key is always on the
/// chain and recovery still starts in the right place.
pub(crate) async fn compact(inner: &Inner, through: u64) -> Result<()> {
    let (drop_batches, new_first, latest) = {
        let mut s = inner.state();
        if through > s.latest {
            return Err(Error::InvalidArgument(format!(
                "cannot compact through {through}: newest snapshot is at {}",
                s.latest
            )));
        }
        let drop_batches: Vec<u64> = s
            .index
            .iter()
            .filter(|(&k, &n)| k + u64::from(n) - 1 <= through)
            .map(|(&k, _)| k)
            .collect();
        for k in &drop_batches {
            s.index.remove(k);
        }
        let new_first = s.index.keys().next().copied().unwrap_or(s.durable + 1);
        s.first_version = s.first_version.max(new_first);
        (drop_batches, new_first, s.latest)
    };
    let store = inner.store.as_ref();
    let listed = list_versions(store, &inner.layout.log_dir()).await?;
    let debris: Vec<_> = listed
        .iter()
        .filter(|(k, _)| **k < new_first && drop_batches.binary_search(k).is_err())
        .map(|(_, p)| p.clone())
        .collect();
    delete_all(inner, debris).await?;
    delete_all(
        inner,
        drop_batches.iter().map(|&k| inner.layout.log(k)).collect(),
    )
    .await?;
    let snapshots = list_versions(store, &inner.layout.snapshot_dir()).await?;
    delete_all(
        inner,
        snapshots.range(..latest).map(|(_, p)| p.clone()).collect(),
    )
    .await?;
    Ok(())
}

async fn delete_all(inner: &Inner, paths: Vec<object_store::path::Path>) -> Result<()> {
    // One at a time, in order: the order is what keeps a crash midway recoverable.
    let mut stream = futures_util::stream::iter(paths);
    while let Some(path) = stream.next().await {
        match inner.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(format!("delete {path}"), e)),
        }
    }
    Ok(())
}
