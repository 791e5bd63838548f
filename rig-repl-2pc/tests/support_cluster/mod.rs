//! [`PairCluster`]: a primary (node 0) and a replica (node 1) as a rig-testkit [`Cluster`], the
//! primary's link to the replica running through a [`TcpProxy`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rig_core::{Error, Log, LogPayload, Result};
use rig_repl_2pc::{Policy, ReplLog};
use rig_testkit::conformance::{Cluster, NodeSlot};
use rig_testkit::proxy::TcpProxy;

use crate::support::{open_primary, open_replica};

const PRIMARY: usize = 0;
const REPLICA: usize = 1;

/// Strict: no acknowledgment without the replica. The timeout is short so that appends during a
/// partition fail fast.
fn policy() -> Policy {
    Policy::Strict {
        timeout: Duration::from_secs(2),
    }
}

/// The pair. A wiped node starts again in a new directory (its "new disk").
#[derive(Debug)]
pub(crate) struct PairCluster {
    root: PathBuf,
    proxy: TcpProxy,
    nodes: [NodeSlot<ReplLog>; 2],
    disks: [AtomicU32; 2],
}

impl PairCluster {
    /// Starts the replica, the proxy in front of it, then the primary.
    pub(crate) async fn start(root: PathBuf) -> Result<Self> {
        let replica = open_replica(&root.join("replica-0")).await?;
        let proxy = TcpProxy::start(replica.local_addr())
            .await
            .map_err(|e| Error::io("test", "start the proxy", e))?;
        let cluster = Self {
            root,
            proxy,
            nodes: [NodeSlot::default(), NodeSlot::default()],
            disks: [AtomicU32::new(0), AtomicU32::new(0)],
        };
        cluster.nodes[REPLICA].put(replica);
        cluster.restart(PRIMARY).await?;
        Ok(cluster)
    }

    fn dir(&self, node: usize) -> PathBuf {
        let name = if node == PRIMARY {
            "primary"
        } else {
            "replica"
        };
        let disk = self.disks[node].load(Ordering::SeqCst);
        self.root.join(format!("{name}-{disk}"))
    }
}

#[rig_core::async_trait]
impl Cluster for PairCluster {
    fn size(&self) -> usize {
        2
    }

    /// The primary: 2PC has no automatic failover (promotion is an operator's decision), so the
    /// writer is the primary whenever it is up.
    async fn writer(&self) -> Result<Arc<dyn Log>> {
        match self.nodes[PRIMARY].get() {
            Some(_) => Ok(self.nodes[PRIMARY].handle()),
            None => Err(Error::Unavailable {
                reason: "the primary is down".into(),
            }),
        }
    }

    async fn leader(&self) -> usize {
        PRIMARY
    }

    async fn crash(&self, i: usize) {
        if let Some(log) = self.nodes[i].take().await {
            log.halt().await;
        }
    }

    async fn restart(&self, i: usize) -> Result<()> {
        if i == PRIMARY {
            let primary = open_primary(&self.dir(PRIMARY), self.proxy.addr(), policy()).await?;
            self.nodes[PRIMARY].put(primary);
        } else {
            let replica = open_replica(&self.dir(REPLICA)).await?;
            self.proxy.set_target(replica.local_addr());
            self.nodes[REPLICA].put(replica);
        }
        Ok(())
    }

    async fn wipe(&self, i: usize) {
        self.crash(i).await;
        self.disks[i].fetch_add(1, Ordering::SeqCst);
    }

    /// A pair has one link: isolating either node cuts it.
    async fn isolate(&self, _i: usize) {
        self.proxy.cut();
    }

    async fn disturb(&self, seed: u64) {
        self.proxy.disturb(seed);
    }

    async fn heal(&self) {
        self.proxy.heal();
    }

    async fn node_entries(&self, i: usize) -> Result<Vec<LogPayload>> {
        let log = self.nodes[i].get().ok_or(Error::Closed)?;
        let (first, end) = (log.first_version(), log.committed());
        if end < first {
            return Ok(Vec::new());
        }
        log.read(first, (end - first + 1) as usize).await
    }

    async fn shutdown(&self) {
        for node in &self.nodes {
            if let Some(log) = node.get() {
                let _ = log.close().await;
            }
        }
    }
}
