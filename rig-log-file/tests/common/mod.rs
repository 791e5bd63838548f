//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod fault_fs;

use rig_core::{Durability, Log, LogPayload, Operation};
use rig_log_file::{FileLog, FileLogOptions};

/// Small segments so tests cross segment boundaries quickly.
pub fn small() -> FileLogOptions {
    FileLogOptions {
        segment_size: 8 << 10,
        ..Default::default()
    }
}

pub fn op(i: u64) -> Operation {
    Operation::new("put", format!("value-{i:08}"))
}

/// Appends `n` single-op batches concurrently-issued, returns their versions in call order.
pub async fn append_n(log: &FileLog, from: u64, n: u64) -> Vec<u64> {
    let futs: Vec<_> = (from..from + n)
        .map(|i| log.append(vec![op(i)], Durability::Local))
        .collect();
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await.expect("append"));
    }
    out
}

/// Reads everything from `from` through `committed()`.
pub async fn read_all(log: &FileLog, from: u64) -> Vec<LogPayload> {
    let mut out = Vec::new();
    let mut next = from;
    while next <= log.committed() {
        let chunk = log.read(next, 1000).await.expect("read");
        assert!(
            !chunk.is_empty(),
            "read from {next} returned nothing below committed"
        );
        next += chunk.len() as u64;
        out.extend(chunk);
    }
    out
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
