//! `rig-bench raft`: a Raft group of N nodes in one process (rig-raft-lite's `RaftLog`), C
//! closed-loop clients calling `Log::append` (one op per call, `Durability::Applied`: returns
//! once committed) on the leader. `--net mem --log mem` with empty ops is the method of openraft's
//! published benchmark (nodes in one process, no network, in-memory log); `--net tcp` uses
//! rig-core's authenticated links over loopback TCP and `--log file` real fsynced files.
//!
//! The same-run baseline: with `--log file`, the other commit mode measured in the same run (so the
//! ratio of `--mode volatile` is Volatile/Strict); with `--log mem`, rig-core's single-node
//! `MemLog` under the same client loop (the ceiling of the harness without replication).
//!
//! `--lossy-follower-drop-pct P`: once the leader is elected, P% of the messages to and from one
//! follower are dropped (on either network), and the same-run baseline is the same group with
//! lossless links (Tupl's gap filling: the group should keep most of its throughput).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::seams::{Rand, SeededRand, StdFs, TcpTransport, TokioClock, Transport};
use rig_core::{Durability, Log, MemLog, Operation, Role};
use rig_raft_lite::core::{CommitMode, Config, Membership, Message};
use rig_raft_lite::driver::{NetNetwork, Network, Options, RaftLog, Router};
use rig_raft_lite::storage::{FsStorage, MemStorage, Storage};

use crate::report::Report;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) nodes: u64,
    pub(crate) clients: usize,
    pub(crate) ops: usize,
    pub(crate) op_bytes: usize,
    pub(crate) tcp: bool,
    pub(crate) file: bool,
    pub(crate) mode: CommitMode,
    /// Percent of the messages to and from one follower dropped (0: lossless).
    pub(crate) lossy_follower_drop_pct: u64,
}

/// Which follower's links lose messages (0 until the leader is known), and how many per
/// thousand; shared by every node's [`LossyNetwork`].
#[derive(Debug)]
struct LossyLinks {
    follower: AtomicU64,
    per_mille: u64,
    rand: SeededRand,
}

/// A network that drops a share of the messages to and from the lossy follower.
#[derive(Debug)]
struct LossyNetwork {
    inner: Arc<dyn Network>,
    links: Arc<LossyLinks>,
}

impl Network for LossyNetwork {
    fn send(&self, from: u64, to: u64, msg: Message) {
        let lossy = self.links.follower.load(Ordering::Relaxed);
        let on_lossy_link = lossy != 0 && (from == lossy || to == lossy);
        if on_lossy_link && self.links.rand.below(1000) < self.links.per_mille {
            return;
        }
        self.inner.send(from, to, msg);
    }

    fn set_members(&self, members: &Membership) {
        self.inner.set_members(members);
    }
}

fn mode_name(mode: CommitMode) -> &'static str {
    match mode {
        CommitMode::Strict => "strict",
        CommitMode::Volatile => "volatile",
    }
}

/// Parses `volatile` / `strict`.
pub(crate) fn parse_mode(s: &str) -> Option<CommitMode> {
    match s {
        "volatile" => Some(CommitMode::Volatile),
        "strict" => Some(CommitMode::Strict),
        _ => None,
    }
}

/// Starts the group and returns its nodes (the temporary directory must outlive them); every
/// node sends through `lossy` when given.
async fn start_group(
    p: &Params,
    dir: &std::path::Path,
    lossy: Option<&Arc<LossyLinks>>,
) -> Vec<Arc<RaftLog>> {
    let ids: Vec<u64> = (1..=p.nodes).collect();
    let mut links: BTreeMap<u64, (Arc<dyn Network>, rig_raft_lite::driver::Inbox)> =
        BTreeMap::new();
    if p.tcp {
        let mut listeners = BTreeMap::new();
        for &id in &ids {
            let l = TcpTransport.listen("127.0.0.1:0").await.expect("listen");
            listeners.insert(id, l);
        }
        let addrs: BTreeMap<u64, String> = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().expect("address")))
            .collect();
        for (id, listener) in listeners {
            let others = addrs
                .iter()
                .filter(|(p, _)| **p != id)
                .map(|(p, a)| (*p, a.clone()))
                .collect();
            let cfg = HandshakeConfig::new("bench", [1, 1], id.to_string(), b"bench".to_vec());
            let (net, inbox) = NetNetwork::start(
                cfg,
                others,
                listener,
                Arc::new(TcpTransport),
                Arc::new(TokioClock),
                Arc::new(SeededRand::new(id)),
            );
            links.insert(id, (Arc::new(net), inbox));
        }
    } else {
        let router = Router::default();
        for &id in &ids {
            let inbox = router.register(id);
            links.insert(id, (Arc::new(router.clone()), inbox));
        }
    }
    let mut nodes = Vec::new();
    for (id, (net, inbox)) in links {
        let net: Arc<dyn Network> = match lossy {
            Some(links) => Arc::new(LossyNetwork {
                inner: net,
                links: links.clone(),
            }),
            None => net,
        };
        let mut config = Config::new(id, ids.clone());
        config.commit_mode = p.mode;
        let storage: Box<dyn Storage> = if p.file {
            Box::new(
                FsStorage::open(Arc::new(StdFs), &dir.join(format!("n{id}"))).expect("open disk"),
            )
        } else {
            Box::new(MemStorage::default())
        };
        let log = RaftLog::start(
            Options::new(config),
            storage,
            net,
            inbox,
            Arc::new(TokioClock),
            Box::new(SeededRand::new(100 + id)),
        )
        .expect("start a node");
        nodes.push(Arc::new(log));
    }
    nodes
}

/// Waits for a leader that has committed an entry of its term.
async fn leader(nodes: &[Arc<RaftLog>]) -> Arc<RaftLog> {
    loop {
        for n in nodes {
            if n.role() == Role::Leader && n.read_barrier().await.is_ok() {
                return n.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// C closed-loop clients append one op of `op_bytes` per call to `log` at `Applied`.
async fn drive<L: Log + ?Sized>(
    log: Arc<L>,
    clients: usize,
    ops: usize,
    op_bytes: usize,
) -> (Duration, Vec<Duration>) {
    let data = bytes::Bytes::from(vec![0x5au8; op_bytes]);
    let make = move |_| Operation::new("w", data.clone());
    crate::engine::append_directly(log, clients, ops, Durability::Applied, make).await
}

/// `threads == 1`: a current-thread runtime (no cross-core wake-ups); otherwise a
/// multi-thread one with that many workers (0: one per core).
fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if threads > 1 {
        b.worker_threads(threads);
    }
    b.enable_all().build().expect("runtime")
}

/// This process's CPU time (user + system, every thread) from `/proc/self/stat`, in clock
/// ticks of 10 ms; `None` where unavailable.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// One measurement of the group described by `p` (lossless when `lossless`).
fn measure(p: &Params, threads: usize, lossless: bool) -> (Duration, Vec<Duration>) {
    let rt = runtime(threads);
    let dir = tempfile::tempdir().expect("temp dir");
    let lossy = (!lossless && p.lossy_follower_drop_pct > 0).then(|| {
        Arc::new(LossyLinks {
            follower: AtomicU64::new(0),
            per_mille: p.lossy_follower_drop_pct.min(100) * 10,
            rand: SeededRand::new(7),
        })
    });
    let result = rt.block_on(async {
        let nodes = start_group(p, dir.path(), lossy.as_ref()).await;
        let lead = leader(&nodes).await;
        if let Some(links) = &lossy {
            let follower = nodes.iter().map(|n| n.id()).find(|&id| id != lead.id());
            links
                .follower
                .store(follower.unwrap_or(0), Ordering::Relaxed);
        }
        let cpu = cpu_ticks();
        let r = drive(lead, p.clients, p.ops, p.op_bytes).await;
        // The machine is shared: CPU time per op says what the wall clock cannot.
        if let (Some(a), Some(b)) = (cpu, cpu_ticks()) {
            eprintln!(
                "raft {}: {:.2} CPU us per op (all nodes and clients), {:.0} ops per CPU-second",
                mode_name(p.mode),
                (b - a) as f64 * 10_000.0 / p.ops as f64,
                p.ops as f64 / ((b - a).max(1) as f64 / 100.0)
            );
        }
        for n in &nodes {
            let _ = n.close().await;
        }
        r
    });
    rt.shutdown_background();
    result
}

/// Runs the scenario and its same-run baseline on a multi-thread runtime.
pub(crate) fn run(p: &Params) -> Report {
    run_on(p, 0)
}

/// Runs the scenario and its same-run baseline on a runtime with `threads` workers (see
/// [`runtime`]).
pub(crate) fn run_on(p: &Params, threads: usize) -> Report {
    let baseline = if p.lossy_follower_drop_pct > 0 {
        let (elapsed, _) = measure(p, threads, true);
        (
            "raft-lossless".to_owned(),
            p.ops as f64 / elapsed.as_secs_f64(),
        )
    } else if p.file {
        let other = match p.mode {
            CommitMode::Strict => CommitMode::Volatile,
            CommitMode::Volatile => CommitMode::Strict,
        };
        let q = Params {
            mode: other,
            ..p.clone()
        };
        let (elapsed, _) = measure(&q, threads, false);
        (
            format!("raft-{}", mode_name(other)),
            p.ops as f64 / elapsed.as_secs_f64(),
        )
    } else {
        let rt = runtime(threads);
        let (elapsed, _) =
            rt.block_on(drive(Arc::new(MemLog::new()), p.clients, p.ops, p.op_bytes));
        ("mem-log".to_owned(), p.ops as f64 / elapsed.as_secs_f64())
    };
    let (elapsed, latencies) = measure(p, threads, false);
    let lossy = match p.lossy_follower_drop_pct {
        0 => String::new(),
        pct => format!("-lossy-follower-{pct}pct"),
    };
    Report {
        scenario: format!(
            "raft-{}n-{}-{}-{}{lossy}",
            p.nodes,
            if p.tcp { "tcp" } else { "mem" },
            if p.file { "file" } else { "mem" },
            mode_name(p.mode)
        ),
        clients: p.clients,
        ops: p.ops,
        op_bytes: p.op_bytes,
        elapsed,
        latencies,
        baseline: Some(baseline),
    }
}
