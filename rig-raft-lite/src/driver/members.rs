//! Membership in the driver: [`RaftLog::add_member`], [`RaftLog::remove_member`] and
//! [`RaftLog::members`], and the leader's side of a join ([`Message::Join`]).

use rig_core::{Error, Result};
use tokio::sync::oneshot;

use super::node::Node;
use super::RaftLog;
use crate::core::{Change, Input, Membership, Message, NodeId};

impl Node {
    /// Proposes `change`; the receiver resolves once its control entry is durable on a majority
    /// (the next change may start then).
    pub(crate) fn change_membership(
        &mut self,
        change: Change,
    ) -> Result<oneshot::Receiver<Result<u64>>> {
        self.check()?;
        if !self.raft.is_leader() {
            return Err(Error::NotLeader {
                leader: self.leader_name(),
            });
        }
        self.membership_rejected = None;
        let index = self.raft.last_index() + 1;
        self.step(Input::ChangeMembership(change));
        self.check()?;
        if let Some(reason) = self.membership_rejected.take() {
            return Err(Error::InvalidArgument(format!(
                "membership change refused: {reason}"
            )));
        }
        if self.raft.last_index() < index {
            return Err(Error::NotLeader {
                leader: self.leader_name(),
            });
        }
        Ok(self.wait_replicated(index))
    }

    /// A node asks to join (`from` is the id its link authenticated: the node, or a member
    /// forwarding its request). The leader adds it as an
    /// observer (or finds it already a member) and answers with the membership; another member
    /// forwards the request to the leader it knows.
    pub(crate) fn on_join(&mut self, from: NodeId, id: NodeId, addr: String) {
        // From the node itself, or forwarded by a member.
        if (from != id && !self.raft.membership().contains(from)) || self.check().is_err() {
            return;
        }
        if !self.raft.is_leader() {
            if let Some(leader) = self.raft.leader().filter(|&l| l != self.raft.id()) {
                self.outbox.push((leader, Message::Join { id, addr }));
            }
            return;
        }
        if !self.raft.membership().contains(id) {
            let change = Change::AddObserver { id, addr };
            // A refusal (another change in progress) is answered by silence: the node retries.
            if self.change_membership(change).is_err() {
                return;
            }
        }
        let msg = Message::JoinResp {
            term: self.raft.term(),
            membership: self.raft.stored_membership(),
        };
        self.outbox.push((id, msg));
    }
}

impl RaftLog {
    /// Adds node `id`, reachable at `addr`, as an observer; the leader promotes it to voter once
    /// its log caught up. Resolves once the change is durable on a majority.
    ///
    /// Errors: `NotLeader` on a follower; `InvalidArgument` when the change is refused (already
    /// a member, another change in progress, a leadership transfer under way, or a new leader that
    /// has not committed an entry of its term yet: retry later); `OutcomeUnknown` when leadership
    /// was lost before the change was durable.
    pub async fn add_member(&self, id: NodeId, addr: impl Into<String>) -> Result<()> {
        let addr = addr.into();
        let rx = self
            .shared
            .with_node(|n| n.change_membership(Change::AddObserver { id, addr }))?;
        rx.await.unwrap_or(Err(Error::Closed)).map(drop)
    }

    /// Removes member `id` (voter or observer). The leader cannot remove itself: transfer
    /// leadership first. Resolves (and fails) like [`add_member`](RaftLog::add_member).
    pub async fn remove_member(&self, id: NodeId) -> Result<()> {
        let rx = self
            .shared
            .with_node(|n| n.change_membership(Change::Remove(id)))?;
        rx.await.unwrap_or(Err(Error::Closed)).map(drop)
    }

    /// The membership in effect on this node (the latest in its log, committed or not).
    pub fn members(&self) -> Membership {
        self.shared.lock().raft.membership().clone()
    }

    /// On the leader: how many log entries each other member is behind the commit index (see
    /// [`Raft::replication_lag`](crate::core::Raft::replication_lag)); empty on a follower.
    pub fn replication_lag(&self) -> std::collections::BTreeMap<crate::core::NodeId, u64> {
        self.shared.lock().raft.replication_lag()
    }
}
