//! The S3 log's throughput and latency over `InMemory` with injected PUT latency, and a
//! same-run baseline of one PUT per operation, one at a time (the seed design's shape).
//!
//! ```text
//! cargo run -p rig-log-s3 --release --example s3_bench -- --clients 100 --put-latency-ms 50 --json
//! ```
//! Prints one JSON object with the fields of DESIGN §8.

use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use rig_core::{Durability, Log, Operation};
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::faulty_store::FaultyObjectStore;
use tokio::time::Instant;

const OP_BYTES: usize = 100;

struct Run {
    ops: u64,
    secs: f64,
    latencies_us: Vec<u64>,
}

async fn run(clients: u64, ops_per_client: u64, latency: Duration, opts: S3LogOptions) -> Run {
    let (store, control) = FaultyObjectStore::wrap(Arc::new(InMemory::new()), 0);
    // Only log batch PUTs get the latency (opening and fencing are not what is measured).
    control.only_keys_containing(Some("LOG/"));
    let log = Arc::new(S3Log::open(store, opts).await.expect("open"));
    control.set_put_latency(latency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(ops_per_client as usize);
            for i in 0..ops_per_client {
                let op = Operation::new("set", vec![(c + i) as u8; OP_BYTES]);
                let t = Instant::now();
                log.append(vec![op], Durability::Local)
                    .await
                    .expect("append");
                lat.push(t.elapsed().as_micros() as u64);
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.expect("client"));
    }
    let secs = start.elapsed().as_secs_f64();
    log.close().await.expect("close");
    latencies_us.sort_unstable();
    Run {
        ops: clients * ops_per_client,
        secs,
        latencies_us,
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let clients = arg("--clients", 100);
    let latency = Duration::from_millis(arg("--put-latency-ms", 50));
    let ops_per_client = arg("--ops-per-client", 20);
    let json = args.iter().any(|a| a == "--json");

    let main = run(clients, ops_per_client, latency, S3LogOptions::default()).await;
    // Baseline: one operation per PUT, one PUT at a time.
    let serial = S3LogOptions {
        max_batch_ops: 1,
        max_in_flight: 1,
        ..S3LogOptions::default()
    };
    let baseline = run(1, 10, latency, serial).await;

    let ops_per_sec = main.ops as f64 / main.secs;
    let baseline_ops_per_sec = baseline.ops as f64 / baseline.secs;
    let report = format!(
        "{{\"scenario\":\"s3\",\"clients\":{clients},\"put_latency_ms\":{},\"ops\":{},\"op_bytes\":{OP_BYTES},\"ops_per_sec\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"baseline\":\"put-per-op-serial\",\"baseline_ops_per_sec\":{:.1}}}",
        latency.as_millis(),
        main.ops,
        ops_per_sec,
        pct(&main.latencies_us, 0.50),
        pct(&main.latencies_us, 0.99),
        main.latencies_us.last().copied().unwrap_or(0),
        baseline_ops_per_sec,
    );
    if json {
        println!("{report}");
    } else {
        println!(
            "s3: {clients} clients, {} ms PUT latency: {ops_per_sec:.0} ops/s (p50 {} ms), baseline {baseline_ops_per_sec:.1} ops/s ({:.0}x)",
            latency.as_millis(),
            pct(&main.latencies_us, 0.50) / 1000,
            ops_per_sec / baseline_ops_per_sec
        );
    }
}
