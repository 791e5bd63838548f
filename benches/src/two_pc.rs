//! `rig-bench 2pc`: the engine over a 2PC primary and one replica on loopback TCP (each with its
//! own fsynced FileLog), beside `rig-bench file` measured in the same run as the baseline.

use std::sync::Arc;

use rig_core::net::handshake::HandshakeConfig;
use rig_log_file::{FileLog, FileLogOptions};
use rig_repl_2pc::{Config, ReplLog, StartAs};

use crate::report::Report;

async fn pair(dir: &std::path::Path, rounds_in_flight: Option<usize>) -> ReplLog {
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
    let mut config = Config::new("127.0.0.1:0", StartAs::Primary { replicas: to }, hs("p"));
    if let Some(n) = rounds_in_flight {
        config.max_rounds_in_flight = n;
    }
    ReplLog::open(file("p"), config).await.expect("primary")
}

/// Runs `file` (the baseline) then `2pc` with the same clients, ops and op size.
/// `rounds_in_flight` overrides the primary's `Config::max_rounds_in_flight`.
pub(crate) fn run(
    clients: usize,
    ops: usize,
    op_bytes: usize,
    rounds_in_flight: Option<usize>,
) -> Report {
    let file = crate::engine::run(true, clients, ops, op_bytes);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (elapsed, latencies) = rt.block_on(async {
        let log = std::sync::Arc::new(pair(dir.path(), rounds_in_flight).await);
        // The leaked replica keeps serving; the primary is not closed (the runtime is dropped).
        let measured = crate::engine::drive(Arc::clone(&log), clients, ops, op_bytes, false).await;
        // How the rounds went (on stderr, beside the report): batch size, overlap, commits.
        let status = log.status();
        let r = status.rounds;
        eprintln!(
            "2pc rounds ({:?}): {} started, {:.1} ops/round, {} commit points, at most {} in flight",
            status.mode,
            r.started,
            r.ops as f64 / r.started.max(1) as f64,
            r.commits,
            r.max_in_flight
        );
        measured
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
