//! `OneFileLog`, a small third-party-style `Log`, passes rig-testkit's whole conformance suite on
//! a simulated disk: a factory that can create, crash, wipe and reopen it, then one macro line.

use std::path::Path;
use std::sync::Arc;

use rig_core::{async_trait, Result};
use rig_examples::one_file_log::OneFileLog;
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use rig_testkit::simfs::{SimFs, SimFsController};

const DIR: &str = "/data/log";

/// Creates and reopens `OneFileLog`s on one simulated disk, which it can crash (unsynced writes
/// kept, dropped or torn), wipe, fill up or make fail an fsync.
#[derive(Debug)]
struct SimFileFactory {
    fs: SimFs,
    disk: SimFsController,
}

impl SimFileFactory {
    fn new(seed: u64) -> Self {
        let (fs, disk) = SimFs::new(seed);
        Self { fs, disk }
    }

    fn open(&self) -> Result<OneFileLog> {
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
            Restart::Crash => self.disk.crash(),
            Restart::Wipe => self.disk.wipe(),
        }
        drop(log);
        self.open()
    }

    fn disk(&self) -> Option<SimFsController> {
        Some(self.disk.clone())
    }
}

rig_testkit::conformance_tests!(SimFileFactory::new(7));
