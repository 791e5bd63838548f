//! rig-testkit's Log conformance suite against a primary + replica pair over loopback TCP.

mod support;

use std::sync::Mutex;

use rig_core::{Log, Result};
use rig_repl_2pc::ReplLog;
use rig_testkit::conformance::{Capabilities, Capability, LogFactory, Restart};
use support::{dirs, open_primary, open_replica, strict};

#[derive(Debug)]
struct PairFactory {
    root: tempfile::TempDir,
    generation: Mutex<u32>,
    replica: tokio::sync::Mutex<Option<ReplLog>>,
}

impl PairFactory {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("temp dir"),
            generation: Mutex::new(0),
            replica: tokio::sync::Mutex::new(None),
        }
    }

    async fn start(&self) -> Result<ReplLog> {
        let (p, r) = dirs(self.root.path(), *self.generation.lock().unwrap());
        let replica = open_replica(&r).await?;
        let primary = open_primary(&p, replica.local_addr(), strict()).await?;
        *self.replica.lock().await = Some(replica);
        Ok(primary)
    }
}

#[rig_core::async_trait]
impl LogFactory for PairFactory {
    type Log = ReplLog;

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with(Capability::CrashReopen)
            .with(Capability::Wipe)
            .with(Capability::Replicated)
    }

    async fn create(&self) -> Result<ReplLog> {
        self.start().await
    }

    async fn reopen(&self, log: ReplLog, after: Restart) -> Result<ReplLog> {
        let replica = self.replica.lock().await.take();
        match after {
            Restart::Clean => {
                drop(log); // the case closed it
                if let Some(r) = replica {
                    r.close().await?;
                }
            }
            Restart::Crash | Restart::Wipe => {
                log.halt().await;
                if let Some(r) = replica {
                    r.halt().await;
                }
                if after == Restart::Wipe {
                    *self.generation.lock().unwrap() += 1;
                }
            }
        }
        self.start().await
    }
}

rig_testkit::conformance_tests!(PairFactory::new());
