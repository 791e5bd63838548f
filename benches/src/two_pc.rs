//! `rig-bench 2pc`: the engine over a 2PC primary and one replica on loopback TCP (each with its
//! own fsynced FileLog), beside `rig-bench file` measured in the same run as the baseline.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rig_core::net::handshake::HandshakeConfig;
use rig_core::{
    async_trait, Operation, Options, Rejection, Resources, Rig, Service, ServiceError,
    SnapshotPolicy,
};
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, ReplLog, StartAs};

use crate::report::Report;

/// Counts applied ops; each op's first 8 bytes name its client, its only resource.
#[derive(Default)]
struct Counter {
    version: u64,
}

#[async_trait]
impl Service for Counter {
    type Output = ();
    async fn version(&self) -> u64 {
        self.version
    }
    async fn validate(&self, _op: &Operation) -> Result<(), Rejection> {
        Ok(())
    }
    async fn resources(&self, op: &Operation) -> Resources {
        let client = op
            .data
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        Resources::keys([client.to_string()])
    }
    async fn apply(&mut self, version: u64, _op: &Operation) -> Result<(), ServiceError> {
        self.version = version;
        Ok(())
    }
    async fn snapshot(&self) -> Result<Bytes, ServiceError> {
        Ok(Bytes::new())
    }
    async fn restore(&mut self, version: u64, _data: Bytes) -> Result<(), ServiceError> {
        self.version = version;
        Ok(())
    }
}

async fn pair(dir: &std::path::Path) -> ReplLog {
    let hs = |n: &str| HandshakeConfig::new("bench", [1, 1], n, b"bench".to_vec());
    let file = |n: &str| FileLog::open(dir.join(n), FileLogOptions::default()).expect("file log");
    let replica = ReplLog::open(
        file("r"),
        Config::new("127.0.0.1:0", StartAs::Replica, hs("r")),
    )
    .await
    .expect("replica");
    let to = vec![replica.local_addr().to_string()];
    // The replica lives as long as the runtime's tasks; leak the handle so it keeps serving.
    std::mem::forget(replica);
    ReplLog::open(
        file("p"),
        Config::new("127.0.0.1:0", StartAs::Primary { replicas: to }, hs("p")),
    )
    .await
    .expect("primary")
}

async fn drive(
    log: ReplLog,
    clients: usize,
    ops: usize,
    op_bytes: usize,
) -> (Duration, Vec<Duration>) {
    let options = Options {
        snapshot: SnapshotPolicy {
            every_ops: None,
            every_bytes: None,
        },
        ..Default::default()
    };
    let rig = Rig::open_with(Counter::default(), log, options)
        .await
        .expect("open the engine");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let rig = rig.clone();
        let n = ops / clients + usize::from(c < ops % clients);
        tasks.push(tokio::spawn(async move {
            let mut data = vec![0x5au8; op_bytes.max(8)];
            data[..8].copy_from_slice(&(c as u64).to_le_bytes());
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                rig.execute(Operation::new("w", data.clone()))
                    .await
                    .expect("execute");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::with_capacity(ops);
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    (started.elapsed(), latencies)
}

/// Runs `file` (the baseline) then `2pc` with the same clients, ops and op size.
pub(crate) fn run(clients: usize, ops: usize, op_bytes: usize) -> Report {
    let file = crate::engine::run(true, clients, ops, op_bytes);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (elapsed, latencies) = rt.block_on(async {
        let log = pair(dir.path()).await;
        drive(log, clients, ops, op_bytes).await
    });
    rt.shutdown_background();
    Report {
        scenario: "2pc".into(),
        clients,
        ops,
        op_bytes,
        elapsed,
        latencies,
        baseline: Some(("file".into(), file.ops_per_sec())),
    }
}
