//! rig-testkit's conformance suite on a 3-node in-process Raft group (Strict mode), forwarding to
//! its leader. Crash reopen restarts the whole group after a power loss on every node.

mod conformance_cluster;
mod support;

use rig_core::{Log, Result};
use rig_raft_lite::core::CommitMode;
use rig_raft_lite::storage::MemStorage;
use rig_testkit::conformance::{Capabilities, Capability, Cluster, LogFactory, Restart};
use support::group::Group;

#[derive(Debug, Default)]
struct RaftGroupFactory;

#[rig_core::async_trait]
impl LogFactory for RaftGroupFactory {
    type Log = Group;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::Replicated)
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
    }

    async fn create(&self) -> Result<Group> {
        Ok(Group::start(3, CommitMode::Strict, Vec::new(), 1).await)
    }

    async fn reopen(&self, group: Group, after: Restart) -> Result<Group> {
        group.close().await?;
        let disks: Vec<MemStorage> = match after {
            Restart::Clean => group.disks.clone(),
            Restart::Crash => {
                group.disks.iter().for_each(MemStorage::crash);
                group.disks.clone()
            }
            Restart::Wipe => Vec::new(),
        };
        drop(group);
        Ok(Group::start(3, CommitMode::Strict, disks, 2).await)
    }

    async fn cluster(&self) -> Option<Result<Box<dyn Cluster>>> {
        let cluster = conformance_cluster::RaftCluster::start().await;
        Some(cluster.map(|c| Box::new(c) as Box<dyn Cluster>))
    }
}

rig_testkit::conformance_tests!(RaftGroupFactory);
