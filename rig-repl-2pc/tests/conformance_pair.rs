//! rig-testkit's Log conformance suite against a primary + replica pair over loopback TCP.
//!
//! The replicated cases run the pair through a [`TcpProxy`] on the primary's link to the
//! replica, which is how they partition it and disturb it (random connection resets: the primary
//! then resends over new connections, so the replica sees duplicated and reordered messages).

mod support;
mod support_cluster;

use std::sync::Mutex;

use rig_core::{Log, Result};
use rig_repl_2pc::ReplLog;
use rig_testkit::conformance::{Capabilities, Capability, Cluster, LogFactory, Restart};
use support::{dirs, open_primary, open_replica, strict};
use support_cluster::PairCluster;

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

    async fn cluster(&self) -> Option<Result<Box<dyn Cluster>>> {
        let dir = self.root.path().join("cluster");
        Some(
            PairCluster::start(dir)
                .await
                .map(|c| Box::new(c) as Box<dyn Cluster>),
        )
    }
}

rig_testkit::conformance_tests!(PairFactory::new());
