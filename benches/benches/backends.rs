//! Per-backend criterion benches beside `file_log.rs`: append latency against op size (MemLog,
//! FileLog, S3Log over an in-memory store), S3 append against batch size, FileLog recovery and
//! replay, and snapshot save and load (FileLog, S3Log).
// Benchmarks use real files in a temporary directory.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use object_store::memory::InMemory;
use rig_core::{Durability, Log, MemLog, Operation, Snapshot};
use rig_log_file::{FileLog, FileLogOptions};
use rig_log_s3::{S3Log, S3LogOptions};
use tokio::runtime::Runtime;

const OP_SIZES: [usize; 3] = [64, 1024, 16 << 10];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ops(n: usize, bytes: usize) -> Vec<Operation> {
    (0..n)
        .map(|_| Operation::new("w", vec![0x5au8; bytes]))
        .collect()
}

fn s3(rt: &Runtime) -> S3Log {
    rt.block_on(S3Log::open(
        Arc::new(InMemory::new()),
        S3LogOptions::default(),
    ))
    .unwrap()
}

/// One op per append at `Local`, against the op's size, for each backend.
fn append_op_size(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
    let mem = MemLog::new();
    let s3 = s3(&rt);
    let logs: [(&str, &dyn Log); 3] = [("mem", &mem), ("file", &file), ("s3-inmemory", &s3)];
    let mut group = c.benchmark_group("append_op_size");
    group.sample_size(10);
    for (name, log) in logs {
        for size in OP_SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let batch = ops(1, size);
            group.bench_with_input(BenchmarkId::new(name, size), &batch, |b, batch| {
                b.iter(|| {
                    rt.block_on(log.append(batch.clone(), Durability::Local))
                        .unwrap()
                });
            });
        }
    }
    group.finish();
}

/// S3Log appends against the batch size (ops per `append` call), over an in-memory store.
fn s3_append_batches(c: &mut Criterion) {
    let rt = runtime();
    let log = s3(&rt);
    let mut group = c.benchmark_group("s3_append_batch");
    group.sample_size(10);
    for batch in [1usize, 16, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        let ops = ops(batch, 64);
        group.bench_with_input(BenchmarkId::from_parameter(batch), &ops, |b, ops| {
            b.iter(|| {
                rt.block_on(log.append(ops.clone(), Durability::Local))
                    .unwrap()
            });
        });
    }
    group.finish();
}

/// Reopening a FileLog of 20 000 entries (scan and verify), then reading every entry back.
fn file_recovery(c: &mut Criterion) {
    const ENTRIES: usize = 20_000;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
    rt.block_on(async {
        for _ in 0..ENTRIES / 1000 {
            log.append(ops(1000, 256), Durability::Local).await.unwrap();
        }
        log.close().await.unwrap();
    });
    drop(log);
    let mut group = c.benchmark_group("file_recovery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function("open", |b| {
        b.iter(|| {
            let log = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
            rt.block_on(log.close()).unwrap();
        });
    });
    group.bench_function("open_and_replay", |b| {
        b.iter(|| {
            let log = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
            rt.block_on(async {
                let mut next = 1;
                while next <= log.committed() {
                    next += log.read(next, 4096).await.unwrap().len() as u64;
                }
                log.close().await.unwrap();
            });
        });
    });
    group.finish();
}

/// Saving and loading a 1 MiB snapshot (FileLog: write, fsync, rename; S3Log: one PUT and GET).
fn snapshots(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let file = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
    let s3 = s3(&rt);
    let logs: [(&str, &dyn Log); 2] = [("file", &file), ("s3-inmemory", &s3)];
    let data = Bytes::from(vec![0x5au8; 1 << 20]);
    let mut group = c.benchmark_group("snapshot_1mib");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));
    for (name, log) in logs {
        let version = rt
            .block_on(log.append(ops(1, 64), Durability::Local))
            .unwrap();
        let snapshot = Snapshot {
            version,
            data: data.clone(),
        };
        group.bench_function(BenchmarkId::new("save", name), |b| {
            b.iter(|| rt.block_on(log.save_snapshot(snapshot.clone())).unwrap());
        });
        group.bench_function(BenchmarkId::new("load", name), |b| {
            b.iter(|| rt.block_on(log.load_snapshot()).unwrap().unwrap());
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    append_op_size,
    s3_append_batches,
    file_recovery,
    snapshots
);
criterion_main!(benches);
