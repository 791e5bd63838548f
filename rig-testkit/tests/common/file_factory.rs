//! A `LogFactory` running `OneFileLog` on a `SimFs`.

use std::path::Path;
use std::sync::Arc;

use rig_core::{async_trait, Result};
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::simfs::{SimFs, SimFsController};

use super::file_log::OneFileLog;

const DIR: &str = "/data/log";

/// Creates and reopens `OneFileLog`s on one simulated disk.
#[derive(Debug)]
pub struct SimFileFactory {
    fs: SimFs,
    ctl: SimFsController,
}

impl SimFileFactory {
    /// A factory over a fresh simulated disk seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let (fs, ctl) = SimFs::new(seed);
        Self { fs, ctl }
    }

    /// Opens the log over the factory's disk.
    pub fn open(&self) -> Result<OneFileLog> {
        OneFileLog::open(Arc::new(self.fs.clone()), Path::new(DIR))
    }
}

#[async_trait]
impl LogFactory for SimFileFactory {
    type Log = OneFileLog;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
            .with(Capability::DiskFaults)
    }

    async fn create(&self) -> Result<OneFileLog> {
        self.open()
    }

    async fn reopen(&self, log: OneFileLog, after: Restart) -> Result<OneFileLog> {
        match after {
            Restart::Clean => {}
            Restart::Crash => self.ctl.crash(),
            Restart::Wipe => self.ctl.wipe(),
        }
        drop(log);
        self.open()
    }

    fn disk(&self) -> Option<SimFsController> {
        Some(self.ctl.clone())
    }
}
