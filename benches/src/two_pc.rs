//! `rig-bench 2pc`: the engine over a 2PC primary and one replica on loopback TCP (each with its
//! own fsynced FileLog), beside `rig-bench file` measured in the same run as the baseline.

use std::sync::Arc;

use crate::report::Report;
use crate::two_pc_pair::two_pc_pair;

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
        // The replica serves while `_replica` lives, to the end of the run; neither is closed
        // (the runtime is dropped).
        let (primary, _replica) = two_pc_pair(dir.path(), rounds_in_flight).await;
        let log = Arc::new(primary);
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
