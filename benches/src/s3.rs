//! `rig-bench s3`: `S3Log::append` at `Durability::Local` from `clients` concurrent clients over
//! `InMemory` with an injected PUT latency, beside a same-run baseline of one PUT per op, one
//! at a time (the seed design's shape). The logic of `rig-log-s3/examples/s3_bench.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::memory::InMemory;
use rig_core::{Durability, Log, Operation};
use rig_log_s3::{S3Log, S3LogOptions};
use rig_testkit::faulty_store::FaultyObjectStore;

use crate::report::Report;

const OP_BYTES: usize = 100;
/// Ops in the serial baseline: each costs one PUT round trip.
const BASELINE_OPS: usize = 10;

struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Where the log lives: `InMemory` with an injected PUT latency, or a real S3-compatible server.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `InMemory` behind the latency injector.
    Memory(Duration),
    /// A bucket on a real server (latency is whatever the server gives).
    Endpoint {
        /// e.g. `http://127.0.0.1:9000`
        url: String,
        /// An existing bucket.
        bucket: String,
    },
}

/// Runs on one server get distinct prefixes so they never see each other's objects.
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `ops` appends spread over `clients` tasks, each awaiting its append before the next.
async fn run(clients: usize, ops: usize, target: &Target, mut opts: S3LogOptions) -> Run {
    let store: Arc<dyn object_store::ObjectStore> = match target {
        Target::Memory(latency) => {
            let (store, control) = FaultyObjectStore::wrap(Arc::new(InMemory::new()), 0);
            // Only log batch PUTs get the latency, as in rig-log-s3's example.
            control.only_keys_containing(Some("LOG/"));
            control.set_put_latency(*latency);
            store
        }
        Target::Endpoint { url, bucket } => {
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            opts.prefix = format!("rig-bench-{}-{n}", std::process::id());
            rig_log_s3::StoreConfig {
                endpoint: Some(url.clone()),
                bucket: Some(bucket.clone()),
                allow_http: url.starts_with("http://"),
                ..rig_log_s3::StoreConfig::from_env()
            }
            .build()
            .expect("build the S3 client")
        }
    };
    let log = Arc::new(S3Log::open(store, opts).await.expect("open"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let log = Arc::clone(&log);
            let mine = ops / clients + usize::from(c < ops % clients);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(mine);
                for i in 0..mine {
                    let op = Operation::new("set", vec![(c + i) as u8; OP_BYTES]);
                    let t = Instant::now();
                    log.append(vec![op], Durability::Local)
                        .await
                        .expect("append");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ops);
    for t in tasks {
        latencies.extend(t.await.expect("client"));
    }
    let elapsed = start.elapsed();
    log.close().await.expect("close");
    Run { elapsed, latencies }
}

/// Runs the scenario and its baseline in one process.
pub(crate) fn run_s3(clients: usize, ops: usize, target: Target) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let main = run(clients, ops, &target, S3LogOptions::default()).await;
        let serial = S3LogOptions {
            max_batch_ops: 1,
            max_in_flight: 1,
            ..S3LogOptions::default()
        };
        let baseline = run(1, BASELINE_OPS, &target, serial).await;
        Report {
            scenario: "s3".into(),
            clients,
            ops,
            op_bytes: OP_BYTES,
            elapsed: main.elapsed,
            latencies: main.latencies,
            baseline: Some((
                "put-per-op-serial".into(),
                BASELINE_OPS as f64 / baseline.elapsed.as_secs_f64(),
            )),
        }
    })
}
