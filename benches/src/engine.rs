//! `rig-bench file|mem`: C concurrent clients call `Rig::execute` on a trivial service whose
//! resources are per-client keys, so disjoint ops batch into one append. `file`'s baseline is the
//! same-run fsync ceiling at C records per fdatasync; `mem`'s is the same clients appending to a
//! `MemLog` directly, so its ratio is the engine's overhead.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rig_core::{
    async_trait, Durability, Log, MemLog, Operation, Options, Rejection, Resources, Rig, Service,
    ServiceError, SnapshotPolicy,
};
use rig_log_file::{FileLog, FileLogOptions};

use crate::probe;
use crate::report::Report;

/// Counts applied ops; each op's first 8 bytes name its client, which is its only resource.
#[derive(Default)]
struct Trivial {
    version: u64,
}

#[async_trait]
impl Service for Trivial {
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

fn op(client: u64, bytes: usize) -> Operation {
    let mut data = vec![0x5au8; bytes.max(8)];
    data[..8].copy_from_slice(&client.to_le_bytes());
    Operation::new("w", data)
}

/// C closed-loop clients call `Rig::execute` over `log`; returns the elapsed time and every
/// latency. With `close`, the engine (and its log) is closed after the measurement.
pub(crate) async fn drive<L: Log>(
    log: L,
    clients: usize,
    ops: usize,
    op_bytes: usize,
    close: bool,
) -> (Duration, Vec<Duration>) {
    let options = Options {
        snapshot: SnapshotPolicy {
            every_ops: None,
            every_bytes: None,
        },
        ..Default::default()
    };
    let rig = Rig::open_with(Trivial::default(), log, options)
        .await
        .expect("open the engine");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let rig = rig.clone();
        let n = ops / clients + usize::from(c < ops % clients);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                rig.execute(op(c as u64, op_bytes)).await.expect("execute");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::with_capacity(ops);
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    if close {
        rig.close().await.expect("close");
    }
    (elapsed, latencies)
}

/// C closed-loop clients call `Log::append` directly (no engine), one op per call at
/// `durability`, `ops` in all; `make(client)` builds each op. Returns the elapsed time and every
/// latency. Shared by the scenarios that measure a log without the engine.
pub(crate) async fn append_directly<L: Log + ?Sized>(
    log: std::sync::Arc<L>,
    clients: usize,
    ops: usize,
    durability: rig_core::Durability,
    make: impl Fn(u64) -> Operation + Clone + Send + 'static,
) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (log, make) = (log.clone(), make.clone());
        let n = ops / clients + usize::from(c < ops % clients);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                log.append(vec![make(c as u64)], durability)
                    .await
                    .expect("append");
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

/// `rig-bench log`: C tasks call `Log::append` on a [`FileLog`] directly (no engine), one
/// op per call at `Local`: the backend alone, comparable to a bare write-ahead log like okaywal.
pub(crate) fn run_log(clients: usize, ops: usize, op_bytes: usize) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::sync::Arc::new(
        FileLog::open(dir.path().join("log"), FileLogOptions::default())
            .expect("open the file log"),
    );
    let ceiling = probe::ceiling(dir.path(), clients, 2.0);
    let (elapsed, latencies) = rt.block_on(append_directly(
        log,
        clients,
        ops,
        Durability::Local,
        move |c| op(c, op_bytes),
    ));
    Report {
        scenario: "log".into(),
        clients,
        ops,
        op_bytes,
        elapsed,
        latencies,
        baseline: Some((format!("fsync-batch{clients}"), ceiling)),
    }
}

/// Runs the scenario over a [`FileLog`] in a temporary directory (`file`) or a [`MemLog`].
pub(crate) fn run(file: bool, clients: usize, ops: usize, op_bytes: usize) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (scenario, baseline, (elapsed, latencies)) = if file {
        // Setup first: opening preallocates the first segment (64 MiB of zeros), a burst of I/O
        // that must not land inside either measurement.
        let log = FileLog::open(dir.path().join("log"), FileLogOptions::default())
            .expect("open the file log");
        // The same-run ceiling: one fdatasync per `clients` records of 64 bytes.
        let ceiling = probe::ceiling(dir.path(), clients, 2.0);
        (
            "file",
            Some((format!("fsync-batch{clients}"), ceiling)),
            rt.block_on(drive(log, clients, ops, op_bytes, true)),
        )
    } else {
        // The same-run baseline of the engine's overhead: the same clients appending to a
        // MemLog directly, without the engine.
        let (raw, _) = rt.block_on(append_directly(
            std::sync::Arc::new(MemLog::new()),
            clients,
            ops,
            Durability::Local,
            move |c| op(c, op_bytes),
        ));
        (
            "mem",
            Some(("memlog-append".to_owned(), ops as f64 / raw.as_secs_f64())),
            rt.block_on(drive(MemLog::new(), clients, ops, op_bytes, true)),
        )
    };
    Report {
        scenario: scenario.into(),
        clients,
        ops,
        op_bytes,
        elapsed,
        latencies,
        baseline,
    }
}
