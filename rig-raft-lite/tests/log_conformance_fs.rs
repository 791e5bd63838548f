//! rig-testkit's conformance suite on a 3-node Raft group whose nodes keep their logs in
//! FsStorage on simulated disks; crash reopen power-cycles every disk (unsynced writes lost or
//! torn) and restarts the group.

mod support;

use rig_core::{Log, Result};
use rig_raft_lite::core::CommitMode;
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::simfs::SimFs;
use support::group::Group;

#[derive(Debug, Default)]
struct RaftFsGroupFactory;

#[rig_core::async_trait]
impl LogFactory for RaftFsGroupFactory {
    type Log = Group;

    fn capabilities(&self) -> Capabilities {
        // The replicated cases (node crashes, partitions, disturbed messages) run once, on
        // the in-memory group of `log_conformance.rs`; this file is about the disk.
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
    }

    async fn create(&self) -> Result<Group> {
        let disks = (0..3).map(SimFs::new).collect();
        Ok(Group::start_on(3, CommitMode::Strict, Vec::new(), disks, 3).await)
    }

    async fn reopen(&self, group: Group, after: Restart) -> Result<Group> {
        group.close().await?;
        let disks = match after {
            Restart::Clean => group.sim_disks.clone(),
            Restart::Crash => {
                group.sim_disks.iter().for_each(|(_, ctl)| ctl.crash());
                group.sim_disks.clone()
            }
            Restart::Wipe => (10..13).map(SimFs::new).collect(),
        };
        drop(group);
        Ok(Group::start_on(3, CommitMode::Strict, Vec::new(), disks, 4).await)
    }
}

rig_testkit::conformance_tests!(RaftFsGroupFactory);
