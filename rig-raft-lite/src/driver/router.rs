//! [`Router`]: an in-process network between nodes of one group (tests, benchmarks, embedding
//! several nodes in one process), with partitions for fault injection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rig_core::seams::{Rand, SeededRand};
use tokio::sync::mpsc;

use crate::core::{Membership, Message, NodeId};

/// Delivers messages to nodes. Delivery is best effort: a message may be dropped.
pub trait Network: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `msg` from `from` to `to`.
    fn send(&self, from: NodeId, to: NodeId, msg: Message);

    /// The group's membership changed: reach these members (at their addresses) from now on and
    /// stop sending to anyone else. In-process networks reach every registered node already.
    fn set_members(&self, _members: &Membership) {}
}

/// A node's incoming messages.
pub type Inbox = mpsc::UnboundedReceiver<(NodeId, Message)>;

#[derive(Debug, Default)]
struct Routes {
    nodes: BTreeMap<NodeId, mpsc::UnboundedSender<(NodeId, Message)>>,
    isolated: BTreeSet<NodeId>,
    /// One-way cuts: messages `from -> to` are dropped.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Lossy links: `from -> to` drops this many messages per thousand, drawn from `rand`.
    loss: BTreeMap<(NodeId, NodeId), u64>,
    rand: Option<SeededRand>,
}

/// Channels between in-process nodes.
///
/// ```
/// use rig_raft_lite::driver::{Network, Router};
/// use rig_raft_lite::core::Message;
/// let router = Router::default();
/// let mut inbox = router.register(2);
/// router.send(1, 2, Message::TimeoutNow { term: 1 });
/// assert_eq!(inbox.try_recv().unwrap(), (1, Message::TimeoutNow { term: 1 }));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Router(Arc<Mutex<Routes>>);

impl Router {
    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or re-registers, after a restart) node `id` and returns its inbox.
    pub fn register(&self, id: NodeId) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().nodes.insert(id, tx);
        rx
    }

    /// Cuts `id` off from every other node (both directions) until [`heal`](Router::heal).
    pub fn isolate(&self, id: NodeId) {
        self.routes().isolated.insert(id);
    }

    /// Drops every message from `from` to `to` (one direction only) until
    /// [`heal`](Router::heal): asymmetric partitions, e.g. a follower that receives appends but
    /// whose acknowledgments are lost.
    pub fn cut(&self, from: NodeId, to: NodeId) {
        self.routes().cut.insert((from, to));
    }

    /// Drops `per_mille` of the messages from `from` to `to` (one direction), seeded by `rand`,
    /// until [`heal`](Router::heal): a lossy link (the gap-filling benchmark and simulations).
    pub fn lossy(&self, from: NodeId, to: NodeId, per_mille: u64, rand: SeededRand) {
        let mut routes = self.routes();
        routes.loss.insert((from, to), per_mille);
        routes.rand = Some(rand);
    }

    /// Reconnects every node (and makes lossy links lossless).
    pub fn heal(&self) {
        let mut routes = self.routes();
        routes.isolated.clear();
        routes.cut.clear();
        routes.loss.clear();
    }
}

impl Network for Router {
    fn send(&self, from: NodeId, to: NodeId, msg: Message) {
        let routes = self.routes();
        if routes.isolated.contains(&from)
            || routes.isolated.contains(&to)
            || routes.cut.contains(&(from, to))
        {
            return;
        }
        if let (Some(&per_mille), Some(rand)) = (routes.loss.get(&(from, to)), &routes.rand) {
            if rand.below(1000) < per_mille {
                return;
            }
        }
        if let Some(tx) = routes.nodes.get(&to) {
            let _ = tx.send((from, msg));
        }
    }
}
