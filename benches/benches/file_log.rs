//! Append throughput of a FileLog against batch size (ops per `append` call), at `Local`.
// Benchmarks use real files in a temporary directory.
#![allow(clippy::disallowed_methods, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rig_core::{Durability, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

fn append_batches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), FileLogOptions::default()).unwrap();
    let mut group = c.benchmark_group("file_log_append");
    group.sample_size(10);
    for batch in [1usize, 16, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let ops: Vec<Operation> = (0..batch)
                .map(|_| Operation::new("w", vec![0x5au8; 64]))
                .collect();
            b.iter(|| {
                rt.block_on(log.append(ops.clone(), Durability::Local))
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append_batches);
criterion_main!(benches);
