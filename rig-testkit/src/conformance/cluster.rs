//! [`Cluster`]: control over the nodes of a replicated log, for the replicated cases.

use std::sync::Arc;

use async_trait::async_trait;
use rig_core::{Log, LogPayload, Result};

/// The nodes of one replicated log group, under the suite's control. A factory that declares
/// [`Capability::Replicated`](super::Capability::Replicated) returns one from
/// [`LogFactory::cluster`](super::LogFactory::cluster).
///
/// Nodes are numbered `0..size()`. Every method acts at once and returns; the cases bound
/// every wait themselves.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// How many nodes the group has.
    fn size(&self) -> usize;

    /// A handle that writes to the group's current leader (primary). It waits until some node
    /// accepts writes — an election, or the backend's own start-up sync — and fails only if
    /// none can (for example every node is down). After a fault, ask again: an old handle may
    /// keep failing with `NotLeader` or `Closed`.
    async fn writer(&self) -> Result<Arc<dyn Log>>;

    /// The index of the node that leads now (the one [`writer`](Cluster::writer) writes to).
    async fn leader(&self) -> usize;

    /// Kills node `i` abruptly, as SIGKILL would: nothing is closed or flushed, in-flight
    /// appends on it resolve (with an error or, if they completed, success); its durable
    /// storage is kept for [`restart`](Cluster::restart).
    async fn crash(&self, i: usize);

    /// Starts node `i` again from its durable storage (empty after [`wipe`](Cluster::wipe)).
    /// It rejoins the group in the role the backend gives a returning node.
    async fn restart(&self, i: usize) -> Result<()>;

    /// Kills node `i` and loses its storage, as if its disk were replaced.
    async fn wipe(&self, i: usize);

    /// Cuts node `i` off from every other node, both directions, until [`heal`](Cluster::heal).
    async fn isolate(&self, i: usize);

    /// From now until [`heal`](Cluster::heal), messages between nodes are duplicated and
    /// reordered as far as the backend's transport allows, drawn from `seed`: a message network
    /// duplicates and delays messages; a TCP link is reset at random so that senders resend over
    /// new connections (see [`TcpProxy::disturb`](crate::proxy::TcpProxy::disturb)).
    async fn disturb(&self, seed: u64);

    /// Ends every partition and disturbance.
    async fn heal(&self);

    /// The entries node `i` itself holds as committed, from its first version: read on that
    /// node alone, never forwarded, so the cases can check replicas against the leader.
    async fn node_entries(&self, i: usize) -> Result<Vec<LogPayload>>;

    /// Stops every node (a clean close where possible).
    async fn shutdown(&self);
}
