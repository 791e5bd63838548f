//! The chain of log batches, shared by the writer and the follower: which batch holds a
//! version, and checking that a fetched batch is the one the chain names.

use std::collections::BTreeMap;

use object_store::path::Path;
use rig_core::{Error, LogPayload, Result};

use crate::format::decode_batch;
use crate::layout::Layout;

/// `(first version, count)` of the batch in `index` (first version → count) holding `version`.
pub(crate) fn batch_holding(
    index: &BTreeMap<u64, u32>,
    layout: &Layout,
    version: u64,
) -> Result<(u64, u32)> {
    match index.range(..=version).next_back() {
        Some((&key, &count)) => Ok((key, count)),
        None => Err(Error::corrupt(
            layout.log(version).to_string(),
            "no batch holds this version",
        )),
    }
}

/// Decodes the batch stored at `path` and checks it holds versions `key..key + count`.
pub(crate) fn decode_chain_batch(
    path: &Path,
    bytes: &[u8],
    key: u64,
    count: u32,
) -> Result<Vec<LogPayload>> {
    let batch = decode_batch(bytes).map_err(|e| Error::corrupt(path.to_string(), e.to_string()))?;
    if batch.header.first != key || batch.header.count != count {
        return Err(Error::corrupt(
            path.to_string(),
            format!(
                "expected versions {key}..{} but the batch holds {} from {}",
                key + u64::from(count) - 1,
                batch.header.count,
                batch.header.first
            ),
        ));
    }
    Ok(batch.entries)
}
