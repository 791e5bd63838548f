//! A 3-node in-process [`RaftLog`] group on [`MemStorage`] and a [`Router`], exposed as one
//! [`Log`] that forwards to the current leader (the conformance suite's view of the group).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::{SeededRand, TokioClock};
use rig_core::{
    async_trait, AppendFuture, Durability, Log, LogPayload, Operation, Result, Role, Snapshot,
};
use rig_raft_lite::core::{CommitMode, Config};
use rig_raft_lite::driver::{Options, RaftLog, Router};
use rig_raft_lite::storage::{FsStorage, MemStorage, Storage};
use rig_testkit::simfs::{SimFs, SimFsController};

/// The group: its nodes, their disks and network, and the node that leads.
#[derive(Debug)]
pub struct Group {
    pub nodes: Vec<Arc<RaftLog>>,
    pub disks: Vec<MemStorage>,
    pub sim_disks: Vec<(SimFs, SimFsController)>,
    pub router: Router,
    pub leader: usize,
}

impl Group {
    /// Starts `n` nodes on `disks` (fresh ones when empty) and waits for a leader that has
    /// committed an entry of its term (so everything committed before is readable).
    pub async fn start(n: u64, mode: CommitMode, disks: Vec<MemStorage>, seed: u64) -> Self {
        Self::start_on(n, mode, disks, Vec::new(), seed).await
    }

    /// Like [`start`](Group::start); with `sim_disks`, each node runs [`FsStorage`] on its own
    /// simulated file system instead of memory.
    pub async fn start_on(
        n: u64,
        mode: CommitMode,
        disks: Vec<MemStorage>,
        sim_disks: Vec<(SimFs, SimFsController)>,
        seed: u64,
    ) -> Self {
        Self::start_tuned(n, mode, disks, sim_disks, seed, |_| {}).await
    }

    /// Like [`start_on`](Group::start_on), with `tune` adjusting every node's configuration.
    pub async fn start_tuned(
        n: u64,
        mode: CommitMode,
        disks: Vec<MemStorage>,
        sim_disks: Vec<(SimFs, SimFsController)>,
        seed: u64,
        tune: impl Fn(&mut Config),
    ) -> Self {
        let disks = if disks.is_empty() {
            (0..n).map(|_| MemStorage::default()).collect()
        } else {
            disks
        };
        let router = Router::default();
        let nodes = (1..=n)
            .map(|id| {
                let mut cfg = Config::new(id, (1..=n).collect());
                cfg.commit_mode = mode;
                tune(&mut cfg);
                let mut opts = Options::new(cfg);
                opts.tick = Duration::from_millis(5);
                let inbox = router.register(id);
                let storage: Box<dyn Storage> = match sim_disks.get((id - 1) as usize) {
                    Some((fs, _)) => Box::new(
                        FsStorage::open(Arc::new(fs.clone()), Path::new("/raft"))
                            .expect("open disk"),
                    ),
                    None => Box::new(disks[(id - 1) as usize].clone()),
                };
                RaftLog::start(
                    opts,
                    storage,
                    Arc::new(router.clone()),
                    inbox,
                    Arc::new(TokioClock),
                    Box::new(SeededRand::new(seed * 31 + id)),
                )
                .map(Arc::new)
                .expect("start a node")
            })
            .collect();
        let mut g = Self {
            nodes,
            disks,
            sim_disks,
            router,
            leader: 0,
        };
        g.leader = g.wait_leader().await;
        g
    }

    /// Waits for a leader whose read barrier succeeds (it committed an entry of its term).
    pub async fn wait_leader(&self) -> usize {
        loop {
            for (i, node) in self.nodes.iter().enumerate() {
                if node.role() == Role::Leader && node.read_barrier().await.is_ok() {
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn lead(&self) -> &RaftLog {
        &self.nodes[self.leader]
    }
}

#[async_trait]
impl Log for Group {
    fn name(&self) -> &'static str {
        self.lead().name()
    }
    fn strongest_durability(&self) -> Durability {
        self.lead().strongest_durability()
    }
    fn append(&self, ops: Vec<Operation>, durability: Durability) -> AppendFuture {
        self.lead().append(ops, durability)
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<LogPayload>> {
        self.lead().read(from, max).await
    }
    fn committed(&self) -> u64 {
        self.lead().committed()
    }
    fn durable(&self) -> u64 {
        self.lead().durable()
    }
    fn first_version(&self) -> u64 {
        self.lead().first_version()
    }
    async fn wait_committed(&self, after: u64) -> Result<u64> {
        self.lead().wait_committed(after).await
    }
    /// Every node's engine snapshots its own state; the group saves the snapshot on each, once
    /// that node committed its version (an engine snapshots only what it applied).
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<()> {
        for node in &self.nodes {
            while node.committed() < snapshot.version {
                node.wait_committed(node.committed()).await?;
            }
            node.save_snapshot(snapshot.clone()).await?;
        }
        Ok(())
    }
    async fn load_snapshot(&self) -> Result<Option<Snapshot>> {
        self.lead().load_snapshot().await
    }
    async fn compact(&self, through: u64) -> Result<()> {
        self.lead().compact(through).await
    }
    fn role(&self) -> Role {
        self.lead().role()
    }
    async fn read_barrier(&self) -> Result<u64> {
        self.lead().read_barrier().await
    }
    async fn close(&self) -> Result<()> {
        for node in &self.nodes {
            node.close().await?;
        }
        Ok(())
    }
}
