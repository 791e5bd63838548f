//! Append latency of the replicated backends against op size and batch size: a 2PC primary and
//! replica on loopback TCP (each on its own fsynced FileLog), and a 3-node Raft group in one
//! process (in-memory storage and network, Volatile and Strict). `rig-bench 2pc` and
//! `rig-bench raft` measure the same backends under concurrent clients.
// Benchmarks use real files, sockets and the wall clock.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rig_core::seams::{SeededRand, TokioClock};
use rig_core::{Durability, Log, Operation, Role};
use rig_raft_lite::core::{CommitMode, Config as RaftConfig};
use rig_raft_lite::driver::{Options, RaftLog, Router};
use rig_raft_lite::storage::MemStorage;
use tokio::runtime::Runtime;

#[path = "../src/two_pc_pair.rs"]
mod two_pc_pair;
use two_pc_pair::two_pc_pair;

const OP_SIZES: [usize; 3] = [64, 1024, 16 * 1024];
const BATCHES: [usize; 3] = [1, 16, 256];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn ops(n: usize, bytes: usize) -> Vec<Operation> {
    (0..n)
        .map(|_| Operation::new("w", vec![0x5au8; bytes]))
        .collect()
}

/// A 3-node group on an in-process router; returns every node and the leader's index.
async fn raft_group(mode: CommitMode) -> (Vec<Arc<RaftLog>>, usize) {
    let router = Router::default();
    let nodes: Vec<Arc<RaftLog>> = (1..=3u64)
        .map(|id| {
            let mut config = RaftConfig::new(id, vec![1, 2, 3]);
            config.commit_mode = mode;
            let inbox = router.register(id);
            let log = RaftLog::start(
                Options::new(config),
                Box::new(MemStorage::default()),
                Arc::new(router.clone()),
                inbox,
                Arc::new(TokioClock),
                Box::new(SeededRand::new(id)),
            )
            .expect("start a node");
            Arc::new(log)
        })
        .collect();
    loop {
        for (i, n) in nodes.iter().enumerate() {
            if n.role() == Role::Leader && n.read_barrier().await.is_ok() {
                return (nodes, i);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Appends `batch` to `log` at its strongest durability, once per iteration.
fn bench_appends(
    c: &mut Criterion,
    rt: &Runtime,
    group_name: &str,
    log: &dyn Log,
    sizes: &[(usize, usize)],
) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    let durability = Durability::Replicated.min(log.strongest_durability());
    for &(batch, bytes) in sizes {
        group.throughput(Throughput::Elements(batch as u64));
        let input = ops(batch, bytes);
        let id = BenchmarkId::new(format!("batch{batch}"), bytes);
        group.bench_with_input(id, &input, |b, input| {
            b.iter(|| rt.block_on(log.append(input.clone(), durability)).unwrap());
        });
    }
    group.finish();
}

/// The sizes measured: every op size in single-op appends, then every batch size of 64-byte ops.
fn sizes() -> Vec<(usize, usize)> {
    let by_op = OP_SIZES.iter().map(|&bytes| (1, bytes));
    let by_batch = BATCHES.iter().skip(1).map(|&batch| (batch, 64));
    by_op.chain(by_batch).collect()
}

fn two_pc(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (primary, _replica) = rt.block_on(two_pc_pair(dir.path(), None));
    bench_appends(c, &rt, "2pc_append", &primary, &sizes());
}

fn raft(c: &mut Criterion) {
    let rt = runtime();
    for (mode, name) in [
        (CommitMode::Volatile, "raft_append_volatile"),
        (CommitMode::Strict, "raft_append_strict"),
    ] {
        let (nodes, leader) = rt.block_on(raft_group(mode));
        bench_appends(c, &rt, name, &*nodes[leader], &sizes());
        for node in &nodes {
            let _ = rt.block_on(node.close());
        }
    }
}

criterion_group!(benches, two_pc, raft);
criterion_main!(benches);
