//! `rig-bench recovery`: how fast a FileLog reopens (scan and verify every record) and replays
//! (reads every entry back through `Log::read`, as the engine does on open).

use std::time::Instant;

use rig_core::{Durability, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

/// `rig-bench recovery`: prints [`measure`]'s JSON object.
pub(crate) fn run(mb: u64, op_bytes: usize) {
    println!("{}", measure(mb, op_bytes));
}

/// Writes about `mb` MiB of `op_bytes`-byte operations, then reopens and reads them all back.
pub(crate) fn measure(mb: u64, op_bytes: usize) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = FileLogOptions::default();
    let ops = (mb << 20) / (op_bytes as u64 + 16);
    rt.block_on(async {
        let log = FileLog::open(dir.path(), opts.clone()).expect("open");
        let batch: Vec<Operation> = (0..1024)
            .map(|_| Operation::new("w", vec![0x5au8; op_bytes]))
            .collect();
        let mut written = 0;
        while written < ops {
            log.append(batch.clone(), Durability::Applied)
                .await
                .expect("append");
            written += batch.len() as u64;
        }
        log.close().await.expect("close");
    });
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let started = Instant::now();
    let log = FileLog::open(dir.path(), opts).expect("reopen");
    let open_secs = started.elapsed().as_secs_f64();
    let committed = log.committed();
    let started = Instant::now();
    let payload_bytes = rt.block_on(async {
        let (mut next, mut total) = (1u64, 0u64);
        while next <= committed {
            let chunk = log.read(next, 4096).await.expect("read");
            next += chunk.len() as u64;
            total += chunk
                .iter()
                .map(|p| p.op.data.len() as u64 + p.op.method.len() as u64 + 12)
                .sum::<u64>();
        }
        total
    });
    let read_secs = started.elapsed().as_secs_f64();
    let gib = |b: u64, s: f64| b as f64 / s / (1u64 << 30) as f64;
    serde_json::json!({
        "scenario": "recovery",
        "entries": committed,
        "op_bytes": op_bytes,
        "segment_bytes": bytes,
        "open_secs": open_secs,
        "open_gib_per_sec": gib(bytes, open_secs),
        "replay_secs": read_secs,
        "replay_gib_per_sec": gib(payload_bytes, read_secs),
    })
}
