//! [`NodeControl`]: what the HTTP API knows about a node beyond the [`rig_core::Log`] trait: the
//! backend's replication details for `/status`, on a 2PC replica promotion, and on a Raft node
//! membership changes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One replica as its primary sees it (2PC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLag {
    /// The replica's replication address.
    pub addr: String,
    /// Whether an authenticated link to it is up.
    pub connected: bool,
    /// How many committed versions it is behind (unknown counts as all of them).
    pub lag: u64,
    /// Whether the primary stopped waiting for it (`SemiSync` fell back).
    pub lagging: bool,
}

/// The backend's own view of replication, for `/status`. Empty on single-node logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendDetails {
    /// 2PC: the node's epoch; Raft: the current term; S3: the writer epoch this node holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// 2PC: `sync`, `degraded`, `replica`, `fenced` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// 2PC primary: each replica and how far behind it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaLag>,
    /// Raft: every member of the group as this node sees it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberInfo>,
    /// Raft: snapshots this node installed from a leader since it started (a lagging member
    /// or a joiner catching up from a snapshot instead of the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots_installed: Option<u64>,
}

/// One member of a Raft group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's node id.
    pub id: u64,
    /// Its replication (Raft) address, as the membership records it (empty for a member of
    /// the initial `--peers` the log has not recorded an address for).
    pub addr: String,
    /// `voter` or `observer` (a joining node whose log has not caught up yet).
    pub role: String,
    /// Reported by the leader only: how many Raft log entries this member is behind the
    /// leader's commit index (what the leader knows it received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// A membership change the API asks a Raft leader for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add node `id`, reachable at the replication address `addr`, as an observer (the leader
    /// promotes it once its log caught up).
    Add {
        /// The new node's id.
        id: u64,
        /// Its replication address.
        addr: String,
    },
    /// Remove member `id`.
    Remove(u64),
}

type DetailsFn = Arc<dyn Fn() -> BackendDetails + Send + Sync>;
/// A promotion in progress: resolves to the new epoch.
pub type PromoteFuture = Pin<Box<dyn Future<Output = rig_core::Result<u64>> + Send>>;
type PromoteFn = Arc<dyn Fn(Vec<String>) -> PromoteFuture + Send + Sync>;
/// A membership change in progress: resolves once it is durable on a majority.
pub type MemberFuture = Pin<Box<dyn Future<Output = rig_core::Result<()>> + Send>>;
type MembersFn = Arc<dyn Fn(MemberChange) -> MemberFuture + Send + Sync>;

/// Backend abilities the API exposes beyond the `Log` trait. Cheap to clone.
///
/// ```
/// use rig_examples::metadata::node::{BackendDetails, NodeControl};
/// let plain = NodeControl::none();
/// assert_eq!(plain.details(), BackendDetails::default());
/// assert!(!plain.can_promote());
/// let with_epoch = NodeControl::none().with_details(|| BackendDetails { epoch: Some(3), ..Default::default() });
/// assert_eq!(with_epoch.details().epoch, Some(3));
/// ```
#[derive(Clone)]
pub struct NodeControl {
    details: DetailsFn,
    promote: Option<PromoteFn>,
    change_members: Option<MembersFn>,
}

impl std::fmt::Debug for NodeControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeControl")
            .field("details", &(self.details)())
            .field("can_promote", &self.can_promote())
            .finish()
    }
}

impl NodeControl {
    /// No details and no promotion (the file log, `MemLog`).
    pub fn none() -> Self {
        Self {
            details: Arc::new(BackendDetails::default),
            promote: None,
            change_members: None,
        }
    }

    /// Reports `details()` in `/status`.
    pub fn with_details(
        mut self,
        details: impl Fn() -> BackendDetails + Send + Sync + 'static,
    ) -> Self {
        self.details = Arc::new(details);
        self
    }

    /// Serves `POST /admin/promote` with `promote(replicas)`.
    pub fn with_promote(
        mut self,
        promote: impl Fn(Vec<String>) -> PromoteFuture + Send + Sync + 'static,
    ) -> Self {
        self.promote = Some(Arc::new(promote));
        self
    }

    /// Serves `POST /admin/members` and `DELETE /admin/members/{id}` with `change`.
    pub fn with_member_changes(
        mut self,
        change: impl Fn(MemberChange) -> MemberFuture + Send + Sync + 'static,
    ) -> Self {
        self.change_members = Some(Arc::new(change));
        self
    }

    /// Starts `change`; `None` when the backend has no membership to change.
    pub fn change_members(&self, change: MemberChange) -> Option<MemberFuture> {
        self.change_members.as_ref().map(|c| c(change))
    }

    /// The backend's replication details now.
    pub fn details(&self) -> BackendDetails {
        (self.details)()
    }

    /// Whether this backend can be promoted (a 2PC node).
    pub fn can_promote(&self) -> bool {
        self.promote.is_some()
    }

    /// Promotes this node to primary replicating to `replicas`; `None` when the backend cannot.
    pub fn promote(&self, replicas: Vec<String>) -> Option<PromoteFuture> {
        self.promote.as_ref().map(|p| p(replicas))
    }
}
