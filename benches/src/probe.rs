//! The raw disk ceiling: 64-byte records, one fdatasync per k records, on a preallocated file.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const RECORD: usize = 64;
const FILE_SIZE: u64 = 64 << 20;

/// Records per second when one fdatasync covers `per_sync` records of 64 bytes, written as one
/// write per sync to a zero-filled, synced file in `dir`, for about `seconds`.
pub(crate) fn ceiling(dir: &Path, per_sync: usize, seconds: f64) -> f64 {
    let path = dir.join(format!("probe-{per_sync}"));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("probe file");
    let zeros = vec![0u8; 1 << 20];
    for off in (0..FILE_SIZE).step_by(zeros.len()) {
        f.write_all_at(&zeros, off).expect("preallocate");
    }
    f.sync_all().expect("sync");
    let batch = vec![0x5au8; RECORD * per_sync];
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let (mut records, mut off) = (0u64, 0u64);
    while started.elapsed() < budget || records < per_sync as u64 * 10 {
        if off + batch.len() as u64 > FILE_SIZE {
            off = 0;
        }
        f.write_all_at(&batch, off).expect("write");
        f.sync_data().expect("fdatasync");
        off += batch.len() as u64;
        records += per_sync as u64;
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    rate
}

/// The probe's JSON objects, one per batch size (1, 16 and 256 records per fdatasync).
pub(crate) fn results(seconds: f64) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    [1usize, 16, 256]
        .into_iter()
        .map(|k| {
            let rate = ceiling(dir.path(), k, seconds);
            serde_json::json!({
                "scenario": "fsync-probe",
                "records_per_fsync": k,
                "record_bytes": RECORD,
                "records_per_sec": rate.round(),
                "fsyncs_per_sec": (rate / k as f64).round(),
            })
        })
        .collect()
}

/// `rig-bench fsync-probe`: one JSON object per batch size.
pub(crate) fn run_probe(seconds: f64) {
    for v in results(seconds) {
        println!("{v}");
    }
}
