//! Membership: who votes, who only observes, and how that changes (Tupl's roles, Raft's
//! single-server changes).
//!
//! A membership lives in the log as a *control entry* (its data starts with [`CONTROL_TAG`], which
//! no rig payload does) and takes effect on every node as soon as the entry is in its log,
//! committed or not (Raft dissertation §4.1); a truncated control entry reverts to the previous
//! membership. Changes go one at a time: the leader proposes a change only once the previous one
//! is durable on a majority, and only after it committed an entry of its own term (which closes
//! the known hole in single-server changes across leader changes).
//!
//! A new member joins as an *observer*: it receives the log (and a snapshot) but neither votes nor
//! counts towards a quorum. Once its log reaches the leader's commit index, the leader promotes it
//! to voter with another control entry. A leader cannot remove itself (transfer leadership first).

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use rig_core::codec::{CodecError, Reader};

use super::state::{Entry, NodeId, Output, RoleKind};
use super::Raft;

/// The first byte of a control entry's data (rig payloads start with their format, 1).
pub const CONTROL_TAG: u8 = 0xC1;
/// The control entries' format version.
const CONTROL_FORMAT: u8 = 1;

/// Whether `data` is a control entry (a membership), not a payload or a no-op.
pub fn is_control(data: &[u8]) -> bool {
    data.first() == Some(&CONTROL_TAG)
}

/// The members of a group with their addresses (empty when the network needs none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Membership {
    /// Members that vote and count towards quorums.
    pub voters: BTreeMap<NodeId, String>,
    /// Members that receive the log but do not vote (joining members, until promoted).
    pub observers: BTreeMap<NodeId, String>,
}

impl Membership {
    /// Voters `ids` with no addresses.
    pub fn of_voters(ids: impl IntoIterator<Item = NodeId>) -> Self {
        Self {
            voters: ids.into_iter().map(|id| (id, String::new())).collect(),
            observers: BTreeMap::new(),
        }
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id)
    }

    /// Whether `id` is a member (voter or observer).
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id) || self.observers.contains_key(&id)
    }

    /// How many voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Every member with its address.
    pub fn all(&self) -> impl Iterator<Item = (NodeId, &str)> {
        self.voters
            .iter()
            .chain(&self.observers)
            .map(|(id, a)| (*id, a.as_str()))
    }

    /// The address of `id`, when a member.
    pub fn addr(&self, id: NodeId) -> Option<&str> {
        self.voters
            .get(&id)
            .or_else(|| self.observers.get(&id))
            .map(String::as_str)
    }

    /// The control entry's data.
    ///
    /// ```
    /// use rig_raft_lite::core::Membership;
    /// let mut m = Membership::of_voters([1, 2]);
    /// m.observers.insert(3, "h3:7000".into());
    /// assert_eq!(Membership::decode(&m.encode()).unwrap(), m);
    /// ```
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u8(CONTROL_TAG);
        b.put_u8(CONTROL_FORMAT);
        for set in [&self.voters, &self.observers] {
            b.put_u32_le(set.len() as u32);
            for (id, addr) in set {
                b.put_u64_le(*id);
                b.put_u32_le(addr.len() as u32);
                b.put_slice(addr.as_bytes());
            }
        }
        b.freeze()
    }

    /// Decodes a control entry; anything else is an error, never a wrong membership.
    pub fn decode(data: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(data);
        if r.u8("control tag")? != CONTROL_TAG {
            return Err(CodecError::Invalid("not a control entry"));
        }
        if r.u8("control format")? != CONTROL_FORMAT {
            return Err(CodecError::Invalid("unknown control entry format"));
        }
        let mut sets = [BTreeMap::new(), BTreeMap::new()];
        for set in &mut sets {
            let n = r.u32_le("member count")?;
            for _ in 0..n {
                let id = r.u64_le("member id")?;
                let len = r.u32_le("address length")? as usize;
                let addr = std::str::from_utf8(r.take(len, "address")?)
                    .map_err(|_| CodecError::Invalid("address not utf-8"))?;
                set.insert(id, addr.to_string());
            }
        }
        if !r.is_empty() {
            return Err(CodecError::Invalid("trailing bytes"));
        }
        let [voters, observers] = sets;
        if voters.keys().any(|id| observers.contains_key(id)) {
            return Err(CodecError::Invalid("a member is both voter and observer"));
        }
        Ok(Self { voters, observers })
    }
}

/// What a node persists (fsync + rename) about membership: the effective membership, the index of
/// its control entry, and the one before it (in force again if that entry turns out to be gone
/// from the log after a crash).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredMembership {
    /// The control entry's index (0: the initial membership, in no entry).
    pub index: u64,
    /// The effective membership.
    pub current: Membership,
    /// The membership before it.
    pub previous: Membership,
}

/// A membership change, proposed to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add a non-voting observer at `addr`; the leader promotes it once it caught up.
    AddObserver {
        /// The new member (never a reused id).
        id: NodeId,
        /// Its address.
        addr: String,
    },
    /// Make an observer a voter.
    Promote(NodeId),
    /// Remove a member (not the leader itself).
    Remove(NodeId),
}

/// The membership history the core needs: the base (at or below the compaction point) and one
/// entry per control entry in the log above it.
#[derive(Debug, Clone)]
pub(super) struct Configs {
    stack: Vec<(u64, Membership)>,
}

impl Configs {
    /// Starts from what storage persisted (or `initial`), or the membership of the node's
    /// snapshot when that is newer (a crash between installing a snapshot and writing the
    /// membership file), then the control entries in `log`.
    pub(super) fn restore(
        initial: Membership,
        stored: Option<StoredMembership>,
        snapshot: Option<&StoredMembership>,
        offset: u64,
        log: &[Entry],
    ) -> Self {
        // The membership before the file's entry, when that entry is the only control entry the
        // log holds: a snapshot of an earlier entry needs it (see `at`).
        let mut below = None;
        let base = match stored {
            None => (0, initial),
            Some(s) => {
                let in_log = log.iter().any(|e| {
                    e.index == s.index
                        && Membership::decode(&e.data).ok() == Some(s.current.clone())
                });
                let controls = log.iter().filter(|e| is_control(&e.data)).count();
                if in_log && s.index > offset && controls == 1 {
                    below = Some((offset, s.previous.clone()));
                }
                if s.index <= offset || in_log {
                    (s.index, s.current)
                } else {
                    // The entry was lost (truncated) before the file caught up: the previous
                    // membership is the one at or below what the log holds.
                    (0, s.previous)
                }
            }
        };
        let base = match snapshot {
            Some(s) if s.index > base.0 => {
                below = None;
                (s.index, s.current.clone())
            }
            _ => base,
        };
        let base_index = base.0;
        let mut configs = Self {
            stack: below.into_iter().chain([base]).collect(),
        };
        for e in log.iter().filter(|e| e.index > base_index) {
            configs.push(e);
        }
        configs
    }

    /// Adds the membership of control entry `e`; entries at or below the base (a joining node's
    /// membership came with its join, before the log) are already accounted for.
    fn push(&mut self, e: &Entry) {
        if e.index <= self.current().0 {
            return;
        }
        if let Some(m) = is_control(&e.data)
            .then(|| Membership::decode(&e.data).ok())
            .flatten()
        {
            self.stack.push((e.index, m));
        }
    }

    /// The effective membership and its entry's index.
    pub(super) fn current(&self) -> (u64, &Membership) {
        let (i, m) = self.stack.last().expect("a base membership");
        (*i, m)
    }

    fn stored(&self) -> StoredMembership {
        let (index, current) = self.current();
        let previous = match self.stack.len() {
            n if n >= 2 => self.stack[n - 2].1.clone(),
            _ => current.clone(),
        };
        StoredMembership {
            index,
            current: current.clone(),
            previous,
        }
    }

    /// Drops memberships whose entries are no longer below `index` (a truncation).
    fn truncate_from(&mut self, index: u64) {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|(i, _)| *i >= index) {
            self.stack.pop();
        }
    }

    /// The membership in force at `index` (with the one before it), when still known.
    pub(super) fn at(&self, index: u64) -> Option<StoredMembership> {
        let pos = self.stack.iter().rposition(|(i, _)| *i <= index)?;
        let (i, current) = self.stack[pos].clone();
        let previous = pos
            .checked_sub(1)
            .map_or_else(|| current.clone(), |p| self.stack[p].1.clone());
        Some(StoredMembership {
            index: i,
            current,
            previous,
        })
    }

    /// An installed snapshot replaced the log: its membership is the only one known.
    pub(super) fn install(&mut self, m: &StoredMembership) {
        self.stack = vec![(m.index, m.current.clone())];
    }

    /// Forgets memberships superseded at or below the compaction point.
    pub(super) fn compact(&mut self, through: u64) {
        let keep = self
            .stack
            .iter()
            .rposition(|(i, _)| *i <= through)
            .unwrap_or(0);
        self.stack.drain(..keep);
    }
}

impl Raft {
    /// The effective membership.
    pub fn membership(&self) -> &Membership {
        self.configs.current().1
    }

    /// The effective membership's control entry index (0 for the initial one).
    pub fn membership_index(&self) -> u64 {
        self.configs.current().0
    }

    /// The effective membership as storage keeps it (with the one before it).
    pub fn stored_membership(&self) -> StoredMembership {
        self.configs.stored()
    }

    /// Whether this node is a voter of the effective membership.
    pub fn is_voter(&self) -> bool {
        self.membership().is_voter(self.cfg.id)
    }

    /// Whether a change was proposed and is not yet durable on a majority.
    pub fn change_pending(&self) -> bool {
        self.membership_index() > self.durable
    }

    /// The control entries among `entries` (usually none: no allocation).
    pub(super) fn controls(entries: &[Entry]) -> Vec<Entry> {
        entries
            .iter()
            .filter(|e| is_control(&e.data))
            .cloned()
            .collect()
    }

    /// Tracks `controls`, the control entries of entries just written over the log from index
    /// `first`; reports (for persisting and the network) a change of membership.
    pub(super) fn track_configs(&mut self, first: u64, controls: &[Entry]) {
        let before = self.configs.current().0;
        self.configs.truncate_from(first);
        for e in controls {
            self.configs.push(e);
        }
        if self.configs.current().0 != before {
            self.on_membership_changed();
        }
    }

    fn on_membership_changed(&mut self) {
        let stored = self.configs.stored();
        self.out.push(Output::MembershipChanged(stored));
        if self.role == RoleKind::Leader {
            let next = self.log.last_index() + 1;
            let members: Vec<NodeId> = self.peers();
            self.progress.retain(|id, _| members.contains(id));
            for p in members {
                self.progress
                    .entry(p)
                    .or_insert_with(|| super::replication::Progress::probing_from(next));
            }
        }
        if !self.is_voter() && self.role != RoleKind::Leader {
            self.role = RoleKind::Follower;
        }
    }

    /// Leader: proposes `change` (see the module docs for when it is refused).
    pub(super) fn change_membership(&mut self, change: Change) {
        let refuse = |raft: &mut Self, reason: &str| {
            let leader = raft.leader;
            raft.out.push(Output::MembershipRejected {
                reason: reason.to_string(),
                leader,
            });
        };
        if self.role != RoleKind::Leader {
            return refuse(self, "not the leader");
        }
        if self.transfer.is_some() {
            return refuse(self, "a leadership transfer is under way");
        }
        if self.change_pending() {
            return refuse(self, "a membership change is in progress");
        }
        if self.log.term(self.commit) != Some(self.hs.term) {
            return refuse(
                self,
                "the leader has not committed an entry of its term yet",
            );
        }
        let mut next = self.membership().clone();
        match change {
            Change::AddObserver { id, addr } => {
                if next.contains(id) {
                    return refuse(self, "already a member");
                }
                next.observers.insert(id, addr);
            }
            Change::Promote(id) => match next.observers.remove(&id) {
                Some(addr) => {
                    next.voters.insert(id, addr);
                }
                None => return refuse(self, "not an observer"),
            },
            Change::Remove(id) => {
                if id == self.cfg.id {
                    return refuse(
                        self,
                        "the leader cannot remove itself: transfer leadership first",
                    );
                }
                if next.voters.remove(&id).is_none() && next.observers.remove(&id).is_none() {
                    return refuse(self, "not a member");
                }
            }
        }
        self.propose(vec![next.encode()]);
    }

    /// Leader: promotes the first observer whose log reached the commit index.
    pub(super) fn maybe_promote(&mut self) {
        if self.role != RoleKind::Leader
            || self.change_pending()
            || self.transfer.is_some()
            || self.log.term(self.commit) != Some(self.hs.term)
        {
            return;
        }
        let commit = self.commit;
        let ready = self
            .membership()
            .observers
            .keys()
            .copied()
            .find(|id| self.progress.get(id).is_some_and(|p| p.matched >= commit));
        if let Some(id) = ready {
            self.change_membership(Change::Promote(id));
        }
    }
}
