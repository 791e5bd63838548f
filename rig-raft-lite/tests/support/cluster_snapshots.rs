//! The cluster harness's snapshots: a node's state machine snapshots and compacts, a member
//! verifies and installs a streamed image, and a failure report of what each node holds.

use bytes::Bytes;
use rig_core::Snapshot;
use rig_raft_lite::core::{Input, NodeId, SnapshotImage};
use rig_raft_lite::storage::{decode_snapshot_image, encode_snapshot_image};

use super::Cluster;

impl Cluster {
    /// The node's state machine snapshots what it applied (when the checker knows that
    /// state), stores it, and the node compacts the log through it.
    pub(super) fn snapshot_and_compact(&mut self, node: NodeId) {
        let Some(r) = self.nodes[(node - 1) as usize].as_ref() else {
            return;
        };
        let through = r.applied();
        let meta = r.meta_for(through);
        let newer = r.snapshot_meta().is_none_or(|m| m.index < through);
        if let (Some(meta), Some(state), true) = (meta, self.checker.state_of(node, through), newer)
        {
            if self.opts.chunk > 0 {
                let snapshot = Snapshot {
                    version: through,
                    data: state,
                };
                let image = SnapshotImage {
                    bytes: encode_snapshot_image(&meta, &snapshot),
                    meta,
                };
                self.disks[(node - 1) as usize].snap = Some(image.clone());
                self.stats.snapshots_saved += 1;
                self.input(node, Input::SnapshotSaved(image));
            }
        }
        self.input(node, Input::Compact(through));
    }

    /// Member `id` staged a whole image: verify it (what its driver would do) and install it.
    pub(super) fn install(&mut self, id: NodeId, index: u64, total: u64) -> Input {
        let staged = std::mem::take(&mut self.incoming[(id - 1) as usize]);
        let decoded = (staged.len() as u64 == total)
            .then(|| decode_snapshot_image(&staged).ok())
            .flatten();
        let Some((meta, snapshot)) = decoded else {
            return Input::SnapshotRejected { index };
        };
        assert_eq!(meta.index, index, "node {id}: the image's own index");
        self.checker.installed(id, index, &snapshot.data);
        let image = SnapshotImage {
            meta,
            bytes: Bytes::from(staged),
        };
        self.disks[(id - 1) as usize].install(image.clone());
        self.stats.snapshots_installed += 1;
        if id > self.opts.nodes {
            self.stats.joiner_installs += 1;
        }
        Input::SnapshotInstalled(image)
    }

    /// What each node holds, for a failure message.
    pub(super) fn describe(&self) -> String {
        let mut out = String::new();
        for r in self.nodes.iter().flatten() {
            out += &format!(
                "\nnode {} {:?} term {} compacted {} snapshot {:?} applied {} commit {} last {} members {:?}",
                r.id(),
                r.role(),
                r.term(),
                r.compacted(),
                r.snapshot_meta().map(|m| m.index),
                r.applied(),
                r.commit(),
                r.last_index(),
                r.membership()
            );
            if r.is_leader() {
                for id in 1..=self.slots() {
                    if let Some(p) = r.progress_of(id) {
                        out += &format!("\n  {id}: {p:?}");
                    }
                }
            }
        }
        out
    }
}
