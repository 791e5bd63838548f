//! A RaftLog group for deterministic simulations (rig-testkit's paused-time runtime): in-process
//! [`Router`] links with partitions and one-way cuts, [`MemStorage`] disks that lose unsynced
//! writes on a power loss, and nodes that can be power-cycled. Cheap enough for many seeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::seams::{Rand, SeededRand, TokioClock};
use rig_core::{Log, Role};
use rig_raft_lite::core::{CommitMode, Config};
use rig_raft_lite::driver::{Options, RaftLog, Router};
use rig_raft_lite::storage::MemStorage;

/// The group and its fault controls.
pub struct SimGroup {
    pub size: u64,
    pub router: Router,
    pub disks: Vec<MemStorage>,
    nodes: Mutex<Vec<Option<Arc<RaftLog>>>>,
    rand: SeededRand,
    config: Box<dyn Fn(&mut Options) + Send + Sync>,
}

impl SimGroup {
    /// Starts `size` nodes in `mode`; `config` adjusts each node's options.
    pub fn start(
        size: u64,
        mode: CommitMode,
        rand: SeededRand,
        config: impl Fn(&mut Options) + Send + Sync + 'static,
    ) -> Self {
        let config: Box<dyn Fn(&mut Options) + Send + Sync> = Box::new(move |o: &mut Options| {
            o.config.commit_mode = mode;
            o.tick = Duration::from_millis(10);
            config(o);
        });
        let g = Self {
            size,
            router: Router::default(),
            disks: (0..size).map(|_| MemStorage::default()).collect(),
            nodes: Mutex::new(vec![None; size as usize]),
            rand,
            config,
        };
        for id in 1..=size {
            g.boot(id);
        }
        g
    }

    /// Starts node `id` from its disk (a no-op when it runs).
    pub fn boot(&self, id: u64) {
        let mut nodes = self.nodes.lock().unwrap();
        if nodes[(id - 1) as usize].is_some() {
            return;
        }
        let mut opts = Options::new(Config::new(id, (1..=self.size).collect()));
        (self.config)(&mut opts);
        let inbox = self.router.register(id);
        let log = RaftLog::start(
            opts,
            Box::new(self.disks[(id - 1) as usize].clone()),
            Arc::new(self.router.clone()),
            inbox,
            Arc::new(TokioClock),
            Box::new(SeededRand::new(self.rand.next_u64())),
        )
        .expect("start a node");
        nodes[(id - 1) as usize] = Some(Arc::new(log));
    }

    /// Power loss on node `id`: it stops, and its disk keeps only what was synced.
    pub async fn power_off(&self, id: u64) {
        let node = self.nodes.lock().unwrap()[(id - 1) as usize].take();
        if let Some(node) = node {
            node.close().await.expect("close");
            self.disks[(id - 1) as usize].crash();
        }
    }

    /// A process crash on node `id`: it stops, and its disk keeps every write (the page cache
    /// survives); [`boot`](SimGroup::boot) restarts it.
    pub async fn crash_process(&self, id: u64) {
        let node = self.nodes.lock().unwrap()[(id - 1) as usize].take();
        if let Some(node) = node {
            node.close().await.expect("close");
        }
    }

    /// Whether node `id` runs.
    pub fn is_up(&self, id: u64) -> bool {
        self.nodes.lock().unwrap()[(id - 1) as usize].is_some()
    }

    /// The running nodes.
    pub fn up(&self) -> Vec<Arc<RaftLog>> {
        self.nodes
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// A running node that believes it leads (the highest term wins a tie).
    pub fn leader(&self) -> Option<Arc<RaftLog>> {
        self.up()
            .into_iter()
            .filter(|n| n.role() == Role::Leader)
            .max_by_key(|n| n.term())
    }

    /// A random running node among those that believe they lead (a deposed leader that has
    /// not noticed yet included: it must refuse or answer correctly).
    pub fn any_leader(&self, rand: &dyn Rand) -> Option<Arc<RaftLog>> {
        let leaders: Vec<_> = self
            .up()
            .into_iter()
            .filter(|n| n.role() == Role::Leader)
            .collect();
        if leaders.is_empty() {
            return None;
        }
        Some(leaders[rand.below(leaders.len() as u64) as usize].clone())
    }

    /// Heals the network, boots every node and waits (bounded in simulated time) for a leader
    /// whose read barrier succeeds; returns it and the barrier's version.
    pub async fn converge(&self, seed: u64) -> (Arc<RaftLog>, u64) {
        self.router.heal();
        for id in 1..=self.size {
            self.boot(id);
        }
        let found = async {
            loop {
                // A node that stopped itself (Volatile mode: it applied entries the group lost
                // in a majority power loss) is power-cycled: it reloads its log and follows.
                for node in self.up() {
                    if node.read(node.first_version(), 0).await.is_err() {
                        self.power_off(node.id()).await;
                        self.boot(node.id());
                    }
                }
                if let Some(l) = self.leader() {
                    let barrier = tokio::time::timeout(Duration::from_secs(1), l.read_barrier());
                    if let Ok(Ok(v)) = barrier.await {
                        return (l, v);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(300), found)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: no leader after healing"))
    }

    /// Closes every node.
    pub async fn shutdown(&self) {
        for node in self.up() {
            node.close().await.expect("close");
        }
    }
}

/// A random fault every 100 ms of simulated time until `until`: power-cycle a node, isolate
/// one, cut one direction of a link, or heal. `crash_per_mille` scales the power losses.
pub async fn nemesis(
    group: Arc<SimGroup>,
    rand: SeededRand,
    crash_per_mille: u64,
    until: tokio::time::Instant,
) {
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let id = 1 + rand.below(group.size);
        let roll = rand.below(1000);
        if group.is_up(id) && roll < crash_per_mille {
            group.power_off(id).await;
        } else if !group.is_up(id) && rand.below(4) == 0 {
            group.boot(id);
            rig_testkit::sometimes!(true, "a power-cycled node restarted");
        }
        match rand.below(12) {
            0 => group.router.isolate(id),
            1 => group.router.cut(id, 1 + rand.below(group.size)),
            2 | 3 => group.router.heal(),
            _ => {}
        }
    }
}
