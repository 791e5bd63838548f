//! Object store calls with rig's error mapping: GET with its version, LIST of versioned keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, UpdateVersion};
use rig_core::Error;

use crate::layout::key_version;

/// The backend name in errors and logs.
pub(crate) const BACKEND: &str = "s3-log";

/// Maps an object store error into rig's, naming what the log was doing.
pub(crate) fn store_error(context: impl Into<String>, e: object_store::Error) -> Error {
    Error::Backend {
        backend: BACKEND,
        context: context.into(),
        source: Arc::new(e),
    }
}

/// True when a conditional PUT lost: the object exists or changed.
pub(crate) fn is_conflict(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
}

/// [`get`] with a store failure as rig's error, naming the object.
pub(crate) async fn fetch(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<(Bytes, UpdateVersion)>, Error> {
    get(store, path)
        .await
        .map_err(|e| store_error(format!("get {path}"), e))
}

/// The object's bytes and version, or `None` when it does not exist.
pub(crate) async fn get(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<(Bytes, UpdateVersion)>, object_store::Error> {
    let result = match store.get_opts(path, Default::default()).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let version = UpdateVersion {
        e_tag: result.meta.e_tag.clone(),
        version: result.meta.version.clone(),
    };
    let bytes = result.bytes().await?;
    Ok(Some((bytes, version)))
}

/// Every `<16 hex>` key under `dir`, by version. Names that are not 16 hex digits are ignored.
pub(crate) async fn list_versions(
    store: &dyn ObjectStore,
    dir: &Path,
) -> Result<BTreeMap<u64, Path>, Error> {
    list_versions_after(store, dir, None).await
}

/// Every `<16 hex>` key under `dir` after `offset` (LIST `start-after`), by version.
pub(crate) async fn list_versions_after(
    store: &dyn ObjectStore,
    dir: &Path,
    offset: Option<&Path>,
) -> Result<BTreeMap<u64, Path>, Error> {
    let listing = match offset {
        Some(offset) => store.list_with_offset(Some(dir), offset),
        None => store.list(Some(dir)),
    };
    let metas: Vec<_> = listing
        .try_collect()
        .await
        .map_err(|e| store_error(format!("list {dir}"), e))?;
    Ok(metas
        .into_iter()
        .filter_map(|m| key_version(&m.location).map(|v| (v, m.location)))
        .collect())
}
