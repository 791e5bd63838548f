//! [`NetNetwork`]: Raft messages over rig-core's replication transport (authenticated links over
//! any [`Transport`]: TCP in production, SimNet in simulation). Each node dials every peer
//! (outbound [`Peer`] links with bounded queues) and accepts the peers' links (inbound).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rig_core::net::handshake::{accept, HandshakeConfig};
use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
use rig_core::net::NetError;
use rig_core::seams::{Clock, Listener, Rand, Transport};
use tokio::sync::mpsc;

use super::router::{Inbox, Network};
use crate::core::{Membership, Message, NodeId, StoredMembership};
use crate::wire;

/// Outbound links to every peer; a full queue drops the message (Raft resends).
#[derive(Debug)]
pub struct NetNetwork {
    peers: Mutex<BTreeMap<NodeId, Peer>>,
    dial: Dialer,
}

/// What it takes to open a link.
#[derive(Debug, Clone)]
struct Dialer {
    cfg: HandshakeConfig,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    rand: Arc<dyn Rand>,
}

impl Dialer {
    /// A link to `addr`, with its events.
    fn spawn(&self, addr: String) -> (Peer, mpsc::Receiver<PeerEvent>) {
        Peer::spawn(
            self.transport.clone(),
            addr,
            self.cfg.clone(),
            self.clock.clone(),
            self.rand.clone(),
            PeerOptions::default(),
        )
    }

    /// A link to `addr` whose events nobody needs (links are one-way: we send, the peer's own
    /// link sends back).
    fn spawn_drained(&self, addr: String) -> Peer {
        let (peer, mut events) = self.spawn(addr);
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        peer
    }
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
        let dial = Dialer {
            cfg: cfg.clone(),
            transport,
            clock,
            rand: rand.clone(),
        };
        let peers = addrs
            .into_iter()
            .map(|(id, addr)| (id, dial.spawn_drained(addr)))
            .collect();
        tokio::spawn(serve(listener, cfg, rand, tx));
        let peers = Mutex::new(peers);
        (Self { peers, dial }, inbox)
    }

    fn peers(&self) -> MutexGuard<'_, BTreeMap<NodeId, Peer>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the group behind `seeds` (any members' addresses) to let node `id`, reachable at
    /// `addr`, join; returns the membership the leader answered with (it includes `id` as an
    /// observer). Messages other than the answer that arrive meanwhile are dropped (the leader
    /// resends). Retries every `retry` while no answer comes.
    ///
    /// Errors: `Unavailable` naming the seed when a seed refuses this node's link (wrong group
    /// id or token, failed authentication: retrying cannot help), `Unavailable` when no answer
    /// came within `attempts` rounds.
    pub async fn join(
        &self,
        inbox: &mut Inbox,
        seeds: &[String],
        id: NodeId,
        addr: &str,
        retry: Duration,
        attempts: u32,
    ) -> rig_core::Result<StoredMembership> {
        let links: Vec<_> = seeds
            .iter()
            .map(|s| (s.clone(), self.dial.spawn(s.clone())))
            .collect();
        let join = wire::encode(&Message::Join {
            id,
            addr: addr.to_string(),
        });
        let mut events = Vec::new();
        for (seed, (peer, rx)) in links {
            events.push((seed, rx));
            let _ = peer.try_send(join.clone());
            // Keep the link (dropping the handle would stop it) for the retries below.
            self.peers().insert(u64::MAX - events.len() as u64, peer);
        }
        let result = self
            .await_join(inbox, &mut events, &join, retry, attempts)
            .await;
        self.peers()
            .retain(|k, _| *k < u64::MAX - seeds.len() as u64);
        result
    }

    async fn await_join(
        &self,
        inbox: &mut Inbox,
        events: &mut [(String, mpsc::Receiver<PeerEvent>)],
        join: &bytes::Bytes,
        retry: Duration,
        attempts: u32,
    ) -> rig_core::Result<StoredMembership> {
        for _ in 0..attempts {
            let deadline = self.dial.clock.sleep(retry);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    biased;
                    msg = inbox.recv() => match msg {
                        Some((_, Message::JoinResp { membership, .. })) => return Ok(membership),
                        Some(_) => {}
                        None => return Err(rig_core::Error::Closed),
                    },
                    refused = next_refusal(events) => return Err(refused),
                    () = &mut deadline => break,
                }
            }
            for peer in self.peers().values() {
                let _ = peer.try_send(join.clone());
            }
        }
        Err(rig_core::Error::Unavailable {
            reason: format!(
                "no leader answered the join through {} seed(s)",
                events.len()
            ),
        })
    }
}

/// The first refusal any seed's link reports (transient link failures are skipped: the link
/// reconnects by itself).
async fn next_refusal(events: &mut [(String, mpsc::Receiver<PeerEvent>)]) -> rig_core::Error {
    loop {
        let next = futures_util::future::select_all(
            events
                .iter_mut()
                .map(|(seed, rx)| Box::pin(async move { (seed.clone(), rx.recv().await) })),
        );
        let ((seed, event), _, _) = next.await;
        match event {
            Some(PeerEvent::Disconnected { reason }) if refusal(&reason) => {
                return rig_core::Error::Unavailable {
                    reason: format!("seed {seed} refused this node: {reason}"),
                };
            }
            Some(_) => {}
            // A finished link reports nothing more; wait on the others.
            None => std::future::pending::<()>().await,
        }
    }
}

/// Whether a link failure is the peer refusing us (retrying cannot help).
fn refusal(e: &NetError) -> bool {
    matches!(
        e,
        NetError::WrongGroup(_)
            | NetError::WrongToken
            | NetError::AuthFailed(_)
            | NetError::BadMagic
            | NetError::BadVersion(_)
    )
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
        if let Some(peer) = self.peers().get(&to) {
            let _ = peer.try_send(wire::encode(&msg));
        }
    }

    fn set_members(&self, members: &Membership) {
        let me = self.dial.cfg.node_id.parse::<NodeId>().ok();
        let mut peers = self.peers();
        // Links with an id above every real one are a join's links to its seeds.
        peers.retain(|id, _| members.contains(*id) || *id > u64::MAX / 2);
        for (id, addr) in members.all() {
            let known = peers
                .get(&id)
                .is_some_and(|p| addr.is_empty() || p.addr() == addr);
            if Some(id) != me && !known && !addr.is_empty() {
                peers.insert(id, self.dial.spawn_drained(addr.to_string()));
            }
        }
    }
}
