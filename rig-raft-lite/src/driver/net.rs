//! [`NetNetwork`]: Raft messages over rig-core's replication transport (authenticated links over
//! any [`Transport`]: TCP in production, SimNet in simulation). Each node dials every peer
//! (outbound [`Peer`] links with bounded queues) and accepts the peers' links (inbound).

use std::collections::BTreeMap;
use std::sync::Arc;

use rig_core::net::handshake::{accept, HandshakeConfig};
use rig_core::net::peer::{Peer, PeerOptions};
use rig_core::seams::{Clock, Listener, Rand, Transport};
use tokio::sync::mpsc;

use super::router::{Inbox, Network};
use crate::core::{Message, NodeId};
use crate::wire;

/// Outbound links to every peer; a full queue drops the message (Raft resends).
#[derive(Debug)]
pub struct NetNetwork {
    peers: BTreeMap<NodeId, Peer>,
}

impl NetNetwork {
    /// Starts the links of node `cfg.node_id` (its decimal id): dials `addrs` (every other
    /// node's address) and serves `listener`. Returns the network and the node's inbox.
    pub fn start(
        cfg: HandshakeConfig,
        addrs: BTreeMap<NodeId, String>,
        listener: Box<dyn Listener>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        rand: Arc<dyn Rand>,
    ) -> (Self, Inbox) {
        let (tx, inbox) = mpsc::unbounded_channel();
        let mut peers = BTreeMap::new();
        for (id, addr) in addrs {
            let opts = PeerOptions::default();
            let (peer, mut events) = Peer::spawn(
                transport.clone(),
                addr,
                cfg.clone(),
                clock.clone(),
                rand.clone(),
                opts,
            );
            // Links are one-way (we send, the peer's own link sends back): drain the events.
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            peers.insert(id, peer);
        }
        tokio::spawn(serve(listener, cfg, rand, tx));
        (Self { peers }, inbox)
    }
}

async fn serve(
    mut listener: Box<dyn Listener>,
    cfg: HandshakeConfig,
    rand: Arc<dyn Rand>,
    tx: mpsc::UnboundedSender<(NodeId, Message)>,
) {
    loop {
        // Stop listening (freeing the address for a restart) once the node is gone.
        let accepted = tokio::select! {
            biased;
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((conn, _addr)) = accepted else { return };
        let (cfg, rand, tx) = (cfg.clone(), rand.clone(), tx.clone());
        tokio::spawn(async move {
            let Ok((peer, mut link)) = accept(conn, &cfg, rand.as_ref()).await else {
                return;
            };
            let Ok(from) = peer.node_id.parse::<NodeId>() else {
                return;
            };
            while let Ok(frame) = link.recv().await {
                // A malformed message ends the link; the peer reconnects.
                let Ok(msg) = wire::decode(&frame) else {
                    return;
                };
                if tx.send((from, msg)).is_err() {
                    return;
                }
            }
        });
    }
}

impl Network for NetNetwork {
    fn send(&self, _from: NodeId, to: NodeId, msg: Message) {
        if let Some(peer) = self.peers.get(&to) {
            let _ = peer.try_send(wire::encode(&msg));
        }
    }
}
