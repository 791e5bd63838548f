//! A real process appends under load and is killed with SIGKILL at random moments; after each
//! kill the log reopens with every acknowledged version present, gap-free, every record verified.
//!
//! The child is this test binary re-executed with `RIG_CRASH_CHILD_DIR` set: it runs
//! `crash_child_process`, which appends from several tasks and prints `ACK <version> <client>
//! <seq>` for each acknowledged op.
// A real process in real time: the parent sleeps before killing it, and reads files with std.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rig_core::{Durability, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

const CHILD_ENV: &str = "RIG_CRASH_CHILD_DIR";
const CYCLES: u64 = 60;
const APPENDERS: u64 = 8;

fn options() -> FileLogOptions {
    FileLogOptions {
        segment_size: 256 << 10,
        ..Default::default()
    }
}

fn data(client: u64, seq: u64) -> String {
    format!("client {client} seq {seq}")
}

/// The child's body; a no-op unless run as the child.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let log = std::sync::Arc::new(FileLog::open(&dir, options()).expect("child opens the log"));
        let mut tasks = Vec::new();
        for client in 0..APPENDERS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    let n = 1 + seq % 3;
                    let ops = (0..n)
                        .map(|i| Operation::new("put", data(client, seq * 3 + i)))
                        .collect();
                    let first = log.append(ops, Durability::Local).await.expect("append");
                    let mut out = std::io::stdout().lock();
                    for i in 0..n {
                        writeln!(out, "ACK {} {client} {}", first + i, seq * 3 + i).unwrap();
                    }
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// A small deterministic generator for kill delays (the seed is printed on failure).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_version() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    eprintln!("crash test dir {}", dir.path().display());
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut acked: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut cycles_with_acks = 0;
    for cycle in 0..CYCLES {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack_tx, first_ack) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut first_ack_tx = Some(first_ack_tx);
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if l.starts_with("ACK ") {
                            if let Some(tx) = first_ack_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        lines.push(l)
                    }
                    Err(_) => break,
                }
            }
            lines
        });
        if cycle % 4 == 0 {
            // Anywhere from startup (during recovery) into the load.
            std::thread::sleep(Duration::from_millis(next(&mut rng) % 150));
        } else {
            // Under load: a random moment after the first acknowledgment.
            first_ack
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| {
                    panic!(
                        "cycle {cycle}: the child acknowledged nothing ({e}), dir {}",
                        dir.path().display()
                    )
                });
            std::thread::sleep(Duration::from_millis(next(&mut rng) % 40));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut this_cycle = 0;
        for line in reader.join().unwrap() {
            let parts: Vec<&str> = line.split(' ').collect();
            // A line cut by the kill is not a claim of anything.
            if let ["ACK", v, c, s] = parts[..] {
                let (Ok(v), Ok(c), Ok(s)) = (v.parse(), c.parse(), s.parse()) else {
                    continue;
                };
                // Acknowledged versions survive every crash, so no version is acknowledged twice.
                assert!(
                    acked.insert(v, (c, s)).is_none(),
                    "cycle {cycle}: version {v} acknowledged twice"
                );
                this_cycle += 1;
            }
        }
        if this_cycle > 0 {
            cycles_with_acks += 1;
        }
        verify(dir.path(), &acked, cycle);
    }
    eprintln!(
        "{} acknowledged versions over {CYCLES} kills ({cycles_with_acks} kills under load)",
        acked.len()
    );
    assert!(
        cycles_with_acks >= CYCLES / 3,
        "too few kills happened under load: {cycles_with_acks}"
    );
}

/// Reopens the log: every acknowledged version holds its op, versions are gap-free from the
/// first, and every record verifies (reads check checksums).
fn verify(dir: &std::path::Path, acked: &BTreeMap<u64, (u64, u64)>, cycle: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = FileLog::open(dir, options())
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        let committed = log.committed();
        if let Some((&max, _)) = acked.last_key_value() {
            assert!(
                committed >= max,
                "cycle {cycle}: acknowledged version {max} lost (log ends at {committed})"
            );
        }
        let mut next_version = log.first_version();
        assert_eq!(next_version, 1, "cycle {cycle}: nothing was compacted");
        while next_version <= committed {
            let chunk = log
                .read(next_version, 4096)
                .await
                .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
            assert!(!chunk.is_empty(), "cycle {cycle}: hole at {next_version}");
            for p in chunk {
                assert_eq!(p.version, next_version, "cycle {cycle}: gap");
                if let Some(&(client, seq)) = acked.get(&p.version) {
                    assert_eq!(
                        p.op.data,
                        data(client, seq).as_bytes(),
                        "cycle {cycle}: version {} holds other data",
                        p.version
                    );
                }
                next_version += 1;
            }
        }
        log.close().await.unwrap();
    });
}
