//! [`RaftCluster`]: a 3-node in-process Raft group on [`MemStorage`] as a rig-testkit
//! [`Cluster`], its messages going through a [`ChaosNet`] that can duplicate and reorder them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::{SeededRand, TokioClock};
use rig_core::{Error, Log, LogPayload, Result, Role};
use rig_raft_lite::core::{CommitMode, Config, Message, NodeId};
use rig_raft_lite::driver::{Network, Options, RaftLog, Router};
use rig_raft_lite::storage::MemStorage;
use rig_testkit::conformance::Cluster;

/// The router, plus duplication and delays (hence reordering) while disturbed.
#[derive(Debug, Default)]
pub(crate) struct ChaosNet {
    router: Router,
    /// The xorshift state while disturbed; `None` when messages flow normally.
    chaos: Mutex<Option<u64>>,
}

impl ChaosNet {
    /// The next random number while disturbed.
    fn draw(&self) -> Option<u64> {
        let mut chaos = self.chaos.lock().unwrap_or_else(|e| e.into_inner());
        let x = chaos.as_mut()?;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        Some(*x)
    }
}

impl Network for ChaosNet {
    fn send(&self, from: NodeId, to: NodeId, msg: Message) {
        let Some(r) = self.draw() else {
            return self.router.send(from, to, msg);
        };
        // One in four messages is sent twice; one in three is held back 0-15 ms, so later
        // messages overtake it.
        if r % 4 == 0 {
            self.router.send(from, to, msg.clone());
        }
        if (r >> 8) % 3 == 0 {
            let router = self.router.clone();
            let delay = Duration::from_millis((r >> 16) % 16);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                router.send(from, to, msg);
            });
        } else {
            self.router.send(from, to, msg);
        }
    }
}

/// Three voters in Strict mode (committed once a majority has fsynced).
#[derive(Debug)]
pub(crate) struct RaftCluster {
    net: Arc<ChaosNet>,
    nodes: Vec<Mutex<Option<Arc<RaftLog>>>>,
    disks: Vec<Mutex<MemStorage>>,
    restarts: Mutex<u64>,
}

const SIZE: u64 = 3;

impl RaftCluster {
    pub(crate) async fn start() -> Result<Self> {
        let cluster = Self {
            net: Arc::new(ChaosNet::default()),
            nodes: (0..SIZE).map(|_| Mutex::new(None)).collect(),
            disks: (0..SIZE)
                .map(|_| Mutex::new(MemStorage::default()))
                .collect(),
            restarts: Mutex::new(0),
        };
        for i in 0..SIZE as usize {
            cluster.restart(i).await?;
        }
        Ok(cluster)
    }

    fn node(&self, i: usize) -> Option<Arc<RaftLog>> {
        self.nodes[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn disk(&self, i: usize) -> MemStorage {
        self.disks[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The node that leads and has committed an entry of its term, waiting for an election.
    async fn wait_leader(&self) -> (usize, Arc<RaftLog>) {
        loop {
            for i in 0..SIZE as usize {
                let Some(node) = self.node(i) else { continue };
                if node.role() == Role::Leader && node.read_barrier().await.is_ok() {
                    return (i, node);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[rig_core::async_trait]
impl Cluster for RaftCluster {
    fn size(&self) -> usize {
        SIZE as usize
    }

    async fn writer(&self) -> Result<Arc<dyn Log>> {
        Ok(self.wait_leader().await.1)
    }

    async fn leader(&self) -> usize {
        self.wait_leader().await.0
    }

    /// Stops the node's tasks and drops every write it had not synced.
    async fn crash(&self, i: usize) {
        let node = self.nodes[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(node) = node {
            let _ = node.close().await;
        }
        self.disk(i).crash();
    }

    async fn restart(&self, i: usize) -> Result<()> {
        let id = i as u64 + 1;
        let mut cfg = Config::new(id, (1..=SIZE).collect());
        cfg.commit_mode = CommitMode::Strict;
        let mut opts = Options::new(cfg);
        opts.tick = Duration::from_millis(5);
        let inbox = self.net.router.register(id);
        let seed = {
            let mut restarts = self.restarts.lock().unwrap_or_else(|e| e.into_inner());
            *restarts += 1;
            *restarts * 31 + id
        };
        let node = RaftLog::start(
            opts,
            Box::new(self.disk(i)),
            self.net.clone(),
            inbox,
            Arc::new(TokioClock),
            Box::new(SeededRand::new(seed)),
        )?;
        *self.nodes[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(node));
        Ok(())
    }

    async fn wipe(&self, i: usize) {
        self.crash(i).await;
        *self.disks[i].lock().unwrap_or_else(|e| e.into_inner()) = MemStorage::default();
    }

    async fn isolate(&self, i: usize) {
        self.net.router.isolate(i as u64 + 1);
    }

    async fn disturb(&self, seed: u64) {
        *self.net.chaos.lock().unwrap_or_else(|e| e.into_inner()) = Some(seed | 1);
    }

    async fn heal(&self) {
        self.net.router.heal();
        *self.net.chaos.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn node_entries(&self, i: usize) -> Result<Vec<LogPayload>> {
        let node = self.node(i).ok_or(Error::Closed)?;
        let (first, end) = (node.first_version(), node.committed());
        if end < first {
            return Ok(Vec::new());
        }
        node.read(first, (end - first + 1) as usize).await
    }

    async fn shutdown(&self) {
        for i in 0..SIZE as usize {
            if let Some(node) = self.node(i) {
                let _ = node.close().await;
            }
        }
    }
}
