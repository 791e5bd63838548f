//! Snapshot shipping: how a primary catches up a replica that needs entries it compacted.

use std::sync::Arc;

use rig_core::net::peer::Peer;

use crate::node::Node;
use crate::proto::{Msg, SNAPSHOT_CHUNK};

/// Sends the newest snapshot to a replica that needs entries this primary compacted, in chunks
/// (the link's queue applies backpressure). The replica installs it and fetches the rest.
pub(crate) async fn ship_snapshot(node: Arc<Node>, peer: Peer, epoch: u64) {
    let snapshot = match node.store.load_snapshot().await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::error!("entries were compacted but no snapshot is stored");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot load the snapshot to ship");
            return;
        }
    };
    let total = snapshot.data.len() as u64;
    tracing::info!(replica = %peer.addr(), version = snapshot.version, total, "shipping the snapshot");
    let mut offset = 0;
    loop {
        let end = (offset + SNAPSHOT_CHUNK).min(snapshot.data.len());
        let chunk = Msg::Snapshot {
            epoch,
            version: snapshot.version,
            offset: offset as u64,
            total,
            data: snapshot.data.slice(offset..end),
        };
        if peer.send(chunk.encode()).await.is_err() {
            return;
        }
        offset = end;
        if offset >= snapshot.data.len() {
            return;
        }
    }
}
