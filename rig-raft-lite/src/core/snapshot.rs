//! Snapshots and compaction.
//!
//! The engine's snapshot becomes the Raft snapshot: the driver stores it with its
//! [`SnapshotMeta`] (the last log entry it covers and the membership then) as one *image* (the
//! bytes of the snapshot file) and tells the core with [`Input::SnapshotSaved`](super::Input).
//! The core then compacts the log through it (less [`Config::compaction_retention`] entries) and
//! streams the image to any member whose next entry is gone (`snapshot_stream.rs`). A node
//! reloads its image at start, so a restarted leader still serves it.
//!
//! Without an image the core falls back to part 1's rule: compact only through the *floor*, a
//! prefix committed and durable on every member, which the leader announces in heartbeats.
//!
//! [`Config::compaction_retention`]: super::Config::compaction_retention

use bytes::Bytes;

use super::membership::StoredMembership;
use super::state::{Output, RoleKind};
use super::Raft;

/// What the group knows about a snapshot: the last log entry it covers, and the membership in
/// force at that entry (a member installing it takes that membership).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// The last index it covers.
    pub index: u64,
    /// That entry's term.
    pub term: u64,
    /// The membership at `index`.
    pub membership: StoredMembership,
}

/// A durable snapshot as streamed: its meta and its encoded image (the snapshot file's bytes,
/// see [`crate::storage::encode_snapshot_image`]). The core never looks inside `bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotImage {
    /// Where it stands in the log.
    pub meta: SnapshotMeta,
    /// The encoded image.
    pub bytes: Bytes,
}

impl Raft {
    /// The prefix every voter holds durably (leader's view).
    pub(super) fn compaction_floor(&self) -> u64 {
        let me = self.cfg.id;
        self.progress
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(_, pr)| pr.persisted)
            .fold(self.commit.min(self.persisted), u64::min)
    }

    /// The node's snapshot, when it can stand in for the compacted prefix (it reaches the
    /// compaction point).
    pub(super) fn usable_snapshot(&self) -> Option<&SnapshotImage> {
        self.snap
            .as_ref()
            .filter(|s| s.meta.index >= self.log.offset())
    }

    /// The node's snapshot (its meta), if any.
    pub fn snapshot_meta(&self) -> Option<&SnapshotMeta> {
        self.snap.as_ref().map(|s| &s.meta)
    }

    /// The index of the node's snapshot (0 without one): `compacted <= snapshot <= applied`.
    pub fn snapshot_index(&self) -> u64 {
        self.usable_snapshot().map_or(0, |s| s.meta.index)
    }

    /// Snapshots this node installed from a leader's stream (since it started).
    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots_installed
    }

    /// The meta a snapshot of the state applied through `index` gets: its term and the
    /// membership then; `None` when the log no longer knows them (compacted, or beyond
    /// what was applied).
    pub fn meta_for(&self, index: u64) -> Option<SnapshotMeta> {
        if index > self.applied || index == 0 {
            return None;
        }
        let term = self.log.term(index)?;
        let membership = self.configs.at(index)?;
        Some(SnapshotMeta {
            index,
            term,
            membership,
        })
    }

    /// The node's engine snapshot is durable: serve it and compact through it (a snapshot older
    /// than the one held, or not applied yet, is ignored).
    pub(super) fn snapshot_saved(&mut self, image: SnapshotImage) {
        let meta = &image.meta;
        let newer = self
            .snap
            .as_ref()
            .is_none_or(|s| meta.index >= s.meta.index);
        let known = self.log.term(meta.index) == Some(meta.term);
        if newer && known && meta.index <= self.applied && meta.index >= self.log.offset() {
            self.snap = Some(image);
        }
    }

    /// Drops entries through `index` (less the retention), capped at what was applied and
    /// persisted, and at the node's snapshot (or, without one, at the floor).
    pub(super) fn compact(&mut self, index: u64) {
        let cap = match self.usable_snapshot() {
            // Never past the majority-durable prefix: a Volatile group that loses power on a
            // majority loses only entries every node still holds in its log.
            Some(s) => s.meta.index.min(self.durable),
            None if self.role == RoleKind::Leader => self.compaction_floor(),
            None => self.floor,
        };
        let through = index
            .min(self.applied)
            .min(cap)
            .min(self.persisted)
            .saturating_sub(self.cfg.compaction_retention);
        if through > self.log.offset() {
            self.log.compact(through);
            self.configs.compact(through);
            self.out.push(Output::Compacted(through));
        }
    }
}
