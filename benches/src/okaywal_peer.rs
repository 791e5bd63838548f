//! `rig-bench okaywal`: the peer write-ahead log, W writer threads each committing 64-byte
//! entries, against the same-run fsync ceiling with one fdatasync per W records.

use std::time::{Duration, Instant};

use okaywal::{LogVoid, WriteAheadLog};

use crate::probe;
use crate::report::Report;

const ENTRY: usize = 64;

pub(crate) fn run(writers: usize, ops: usize) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    // Setup (okaywal preallocates its segment) before the ceiling and the run, as for rig.
    let wal = WriteAheadLog::recover(dir.path().join("wal"), LogVoid).expect("open okaywal");
    let ceiling = probe::ceiling(dir.path(), writers, 2.0);
    let entry = [0x5au8; ENTRY];
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let wal = &wal;
                let n = ops / writers + usize::from(w < ops % writers);
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(n);
                    for _ in 0..n {
                        let t = Instant::now();
                        let mut e = wal.begin_entry().expect("begin entry");
                        e.write_chunk(&entry).expect("write chunk");
                        e.commit().expect("commit");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer"))
            .collect()
    });
    let elapsed = started.elapsed();
    Report {
        scenario: "okaywal".into(),
        clients: writers,
        ops,
        op_bytes: ENTRY,
        elapsed,
        latencies,
        baseline: Some((format!("fsync-batch{writers}"), ceiling)),
    }
}
