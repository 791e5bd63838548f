//! 3- and 5-node RaftLog groups in rig-testkit's deterministic simulation: SimNet links (rig-core's
//! authenticated transport), FsStorage on SimFs disks, and a swarm nemesis (per-seed fault plan)
//! that power-cycles nodes (unsynced writes lost or torn), isolates them, fails fsyncs (a node
//! whose fsync failed stops until it is restarted), and — through rig-testkit's `net_nemesis` —
//! drops, duplicates and reorders messages (connection resets, retries) and cuts links. Clients
//! append through whichever node leads; the history checker then requires every acknowledged op
//! at its version on every node, no duplicates, no gaps, no failed op visible, and call-order
//! versions. Half the node starts cut the stream into ranges shorter than a frame, so entries
//! travel in pieces (dropping the pieces that continue a frame fails the liveness phase).

use std::path::Path;
use std::sync::atomic::AtomicBool;
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
use rig_testkit::sim::{net_nemesis, FaultPlan, SimCtx, Simulation};
use rig_testkit::simfs::{SimFs, SimFsController};
use rig_testkit::simnet::{SimNet, SimNetController};

fn name(id: u64) -> String {
    format!("n{id}")
}

fn addr(id: u64) -> String {
    format!("n{id}:7000")
}

struct Group {
    nodes_n: u64,
    net: SimNet,
    net_ctl: SimNetController,
    disks: Vec<(SimFs, SimFsController)>,
    nodes: Mutex<Vec<Option<Arc<RaftLog>>>>,
    rand: SeededRand,
}

impl Group {
    /// Starts node `id`; false when its disk refuses (a failing fsync while opening), in which
    /// case the node stays down and the nemesis tries again later.
    async fn start(&self, id: u64) -> bool {
        let transport = self.net.node(&name(id));
        let listener = loop {
            // A crashed incarnation's listener goes away once its tasks notice.
            match transport.listen(&addr(id)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        let others = (1..=self.nodes_n)
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
        let Ok(storage) = FsStorage::open(Arc::new(fs), Path::new("/raft")) else {
            return false;
        };
        let mut config = Config::new(id, (1..=self.nodes_n).collect());
        config.commit_mode = CommitMode::Strict;
        // Half the starts cut this node's stream (when it leads) into ranges of 24-48 bytes,
        // shorter than any frame with data (32 bytes of header), so entries travel in pieces on
        // the real wire, under the whole nemesis.
        if rand.below(2) == 0 {
            config.max_append_bytes = 24 + rand.below(25) as usize;
        }
        let mut opts = Options::new(config);
        opts.tick = Duration::from_millis(20);
        let Ok(log) = RaftLog::start(
            opts,
            Box::new(storage),
            Arc::new(net),
            inbox,
            Arc::new(TokioClock),
            Box::new(rand),
        ) else {
            return false;
        };
        self.nodes.lock().unwrap()[(id - 1) as usize] = Some(Arc::new(log));
        true
    }

    async fn crash(&self, id: u64) {
        let node = self.nodes.lock().unwrap()[(id - 1) as usize].take();
        if let Some(node) = node {
            // A node stopped by a failed fsync refuses to close cleanly; power goes anyway.
            let _ = node.close().await;
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
        let id = 1 + rand.below(group.nodes_n);
        let is_up = group.nodes.lock().unwrap()[(id - 1) as usize].is_some();
        if is_up && FaultPlan::roll(&rand, plan.crash_per_mille / 3) {
            group.crash(id).await;
        } else if !is_up && rand.below(10) == 0 {
            let started = group.start(id).await;
            rig_testkit::sometimes!(started, "a power-cycled node restarted");
        }
        if rand.below(40) == 0 {
            // A directed disk fault on top of the plan's rate: the node's next fsync fails.
            group.disks[(id - 1) as usize].1.fail_next_syncs(1);
        }
        if FaultPlan::roll(&rand, plan.partition_per_mille) {
            let others: Vec<String> = (1..=group.nodes_n).filter(|&p| p != id).map(name).collect();
            let others: Vec<&str> = others.iter().map(String::as_str).collect();
            group.net_ctl.isolate(&name(id), &others);
        } else if rand.below(20) == 0 {
            group.net_ctl.heal();
        }
    }
}

async fn body(ctx: SimCtx, nodes_n: u64) {
    let (net, net_ctl) = SimNet::new(ctx.rand());
    let disks: Vec<(SimFs, SimFsController)> =
        (0..nodes_n).map(|_| SimFs::with_rand(ctx.rand())).collect();
    let plan = ctx.plan();
    let group = Arc::new(Group {
        nodes_n,
        net,
        net_ctl: net_ctl.clone(),
        disks,
        nodes: Mutex::new(vec![None; nodes_n as usize]),
        rand: ctx.rand(),
    });
    for id in 1..=nodes_n {
        assert!(group.start(id).await, "a healthy disk opens");
    }
    // Disk faults: fsyncs fail at the plan's rate (a tenth of it: every node syncs often).
    for (_, disk) in &group.disks {
        disk.set_sync_failure_rate(plan.sync_fail_per_million / 10);
    }
    let stop_net = Arc::new(AtomicBool::new(false));
    let names = (1..=nodes_n).map(name).collect();
    let net_faults = tokio::spawn(net_nemesis(
        net_ctl,
        names,
        plan,
        ctx.rand(),
        stop_net.clone(),
        ctx.trace.clone(),
    ));
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
        plan,
        ctx.rand(),
        until,
    )));
    for t in tasks {
        t.await.expect("task");
    }
    stop_net.store(true, std::sync::atomic::Ordering::Relaxed);
    net_faults.await.expect("net nemesis");

    // Liveness: heal the disks and links, power-cycle every node (a node stopped by a failed
    // fsync only comes back through a restart), and wait for a leader that serves a barrier.
    let failed_syncs: u64 = group
        .disks
        .iter()
        .map(|(_, d)| d.stats().failed_syncs)
        .sum();
    rig_testkit::sometimes!(failed_syncs > 0, "an fsync failed under a Raft node");
    for (_, disk) in &group.disks {
        disk.heal();
    }
    group.net_ctl.heal();
    for id in 1..=nodes_n {
        group.crash(id).await;
        assert!(group.start(id).await, "a healed disk opens");
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
        .run(|ctx| body(ctx, 3));
}

/// The same with five nodes (two may be down at once); three seeds by default.
#[test]
fn sim_five_node_group_keeps_every_acknowledged_op() {
    Simulation::new(
        "rig-raft-lite",
        "sim_five_node_group_keeps_every_acknowledged_op",
    )
    .seeds(3)
    .run(|ctx| body(ctx, 5));
}
