//! A 3-node RaftLog group in rig-testkit's deterministic simulation: SimNet links (rig-core's
//! authenticated transport), FsStorage on SimFs disks, and a swarm nemesis (per-seed fault plan)
//! that power-cycles nodes (unsynced writes lost or torn) and isolates them. Clients append
//! through whichever node leads; the history checker then requires every acknowledged op at its
//! version on every node, no duplicates, no gaps, no failed op visible, and call-order versions.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::seams::{Rand, SeededRand, TokioClock, Transport};
use rig_core::{Durability, Log, Operation, Role};
use rig_raft_lite::core::{CommitMode, Config};
use rig_raft_lite::driver::{NetNetwork, Options, RaftLog};
use rig_raft_lite::storage::FsStorage;
use rig_testkit::check::log::{check_log, LogHistory};
use rig_testkit::check::recording::RecordingLog;
use rig_testkit::sim::{FaultPlan, SimCtx, Simulation};
use rig_testkit::simfs::{SimFs, SimFsController};
use rig_testkit::simnet::{SimNet, SimNetController};

const NODES: u64 = 3;

fn name(id: u64) -> String {
    format!("n{id}")
}

fn addr(id: u64) -> String {
    format!("n{id}:7000")
}

struct Group {
    net: SimNet,
    net_ctl: SimNetController,
    disks: Vec<(SimFs, SimFsController)>,
    nodes: Mutex<Vec<Option<Arc<RaftLog>>>>,
    rand: SeededRand,
}

impl Group {
    async fn start(&self, id: u64) {
        let transport = self.net.node(&name(id));
        let listener = loop {
            // A crashed incarnation's listener goes away once its tasks notice.
            match transport.listen(&addr(id)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        let others = (1..=NODES)
            .filter(|&p| p != id)
            .map(|p| (p, addr(p)))
            .collect();
        let cfg = HandshakeConfig::new("sim", [1, 1], id.to_string(), b"k".to_vec());
        let rand = self.rand.split();
        let (net, inbox) = NetNetwork::start(
            cfg,
            others,
            listener,
            Arc::new(transport),
            Arc::new(TokioClock),
            Arc::new(rand.split()),
        );
        let fs = self.disks[(id - 1) as usize].0.clone();
        let storage = FsStorage::open(Arc::new(fs), Path::new("/raft")).expect("open the disk");
        let mut config = Config::new(id, (1..=NODES).collect());
        config.commit_mode = CommitMode::Strict;
        let mut opts = Options::new(config);
        opts.tick = Duration::from_millis(20);
        let log = RaftLog::start(
            opts,
            Box::new(storage),
            Arc::new(net),
            inbox,
            Arc::new(TokioClock),
            Box::new(rand),
        )
        .expect("start a node");
        self.nodes.lock().unwrap()[(id - 1) as usize] = Some(Arc::new(log));
    }

    async fn crash(&self, id: u64) {
        let node = self.nodes.lock().unwrap()[(id - 1) as usize].take();
        if let Some(node) = node {
            node.close().await.expect("close");
            self.disks[(id - 1) as usize].1.crash();
        }
    }

    fn up(&self) -> Vec<Arc<RaftLog>> {
        self.nodes
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn leader(&self) -> Option<Arc<RaftLog>> {
        self.up().into_iter().find(|n| n.role() == Role::Leader)
    }
}

fn entry_id(op: &Operation) -> u64 {
    op.method.parse().expect("numeric ids")
}

async fn client(group: Arc<Group>, history: LogHistory, process: u64, until: tokio::time::Instant) {
    let mut n = 0;
    while tokio::time::Instant::now() < until {
        let Some(node) = group.leader() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        n += 1;
        let log = RecordingLog::new(node, history.clone(), process, entry_id);
        let op = Operation::new((process * 1_000_000 + n).to_string(), "");
        let fut = log.append(vec![op], Durability::Replicated);
        match tokio::time::timeout(Duration::from_secs(2), fut).await {
            Ok(Ok(_)) => rig_testkit::sometimes!(true, "an append was acknowledged"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn nemesis(
    group: Arc<Group>,
    plan: FaultPlan,
    rand: SeededRand,
    until: tokio::time::Instant,
) {
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let id = 1 + rand.below(NODES);
        let is_up = group.nodes.lock().unwrap()[(id - 1) as usize].is_some();
        if is_up && FaultPlan::roll(&rand, plan.crash_per_mille / 3) {
            group.crash(id).await;
        } else if !is_up && rand.below(10) == 0 {
            group.start(id).await;
            rig_testkit::sometimes!(true, "a power-cycled node restarted");
        }
        if FaultPlan::roll(&rand, plan.partition_per_mille) {
            let others: Vec<String> = (1..=NODES).filter(|&p| p != id).map(name).collect();
            let others: Vec<&str> = others.iter().map(String::as_str).collect();
            group.net_ctl.isolate(&name(id), &others);
        } else if rand.below(20) == 0 {
            group.net_ctl.heal();
        }
    }
}

async fn body(ctx: SimCtx) {
    let (net, net_ctl) = SimNet::new(ctx.rand());
    let disks = (0..NODES).map(|_| SimFs::with_rand(ctx.rand())).collect();
    let group = Arc::new(Group {
        net,
        net_ctl,
        disks,
        nodes: Mutex::new(vec![None, None, None]),
        rand: ctx.rand(),
    });
    for id in 1..=NODES {
        group.start(id).await;
    }
    let history = LogHistory::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for process in 1..=3 {
        tasks.push(tokio::spawn(client(
            group.clone(),
            history.clone(),
            process,
            until,
        )));
    }
    tasks.push(tokio::spawn(nemesis(
        group.clone(),
        ctx.plan(),
        ctx.rand(),
        until,
    )));
    for t in tasks {
        t.await.expect("task");
    }

    // Liveness: heal, restart everything, and wait for a leader that can serve a read barrier.
    group.net_ctl.heal();
    for id in 1..=NODES {
        if group.nodes.lock().unwrap()[(id - 1) as usize].is_none() {
            group.start(id).await;
        }
    }
    // Bounded in simulated time: a group that never converges fails instead of hanging.
    let converge = async {
        let target = loop {
            if let Some(l) = group.leader() {
                if let Ok(Ok(v)) =
                    tokio::time::timeout(Duration::from_secs(1), l.read_barrier()).await
                {
                    rig_testkit::sometimes!(
                        l.term() > 2,
                        "a later term's leader served the final barrier"
                    );
                    break v;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for node in group.up() {
            while node.committed() < target {
                node.wait_committed(node.committed()).await.expect("tail");
            }
            let reader =
                RecordingLog::new(node.clone(), history.clone(), 100 + node.id(), entry_id);
            reader.read(1, usize::MAX).await.expect("read everything");
        }
    };
    tokio::time::timeout(Duration::from_secs(300), converge)
        .await
        .unwrap_or_else(|_| panic!("seed {}: no convergence after healing", ctx.seed));
    let anomalies = check_log(&history.ops());
    assert!(anomalies.is_empty(), "seed {}: {anomalies:?}", ctx.seed);
    for node in group.up() {
        node.close().await.expect("close");
    }
}

/// Four seeds by default (about 10 s of CPU each in debug builds); `RIG_SEEDS=N` runs more.
#[test]
fn sim_group_keeps_every_acknowledged_op() {
    Simulation::new("rig-raft-lite", "sim_group_keeps_every_acknowledged_op")
        .seeds(4)
        .run(body);
}
