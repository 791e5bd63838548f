//! The S3 log on a local directory (`S3Log::open_local`): one writer per directory through the
//! lock file, a typed error for a second one, every acknowledged op kept across a dropped writer
//! and across SIGKILL of a writer process, followers that read without the lock.
//!
//! The cross-process test re-executes this binary with `RIG_S3_LOCAL_CHILD_DIR` set: the child
//! (`local_writer_child_process`) appends from several tasks and prints `ACK <version> <data>`
//! for each acknowledged op until it is killed.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use rig_core::{Durability, Error, Log, Operation, Role, Snapshot};
use rig_log_s3::{LocalDirStore, S3Log, S3LogOptions, LOCAL_LOCK_FILE};

const CHILD_ENV: &str = "RIG_S3_LOCAL_CHILD_DIR";
const APPENDERS: u64 = 4;

fn options() -> S3LogOptions {
    S3LogOptions {
        max_batch_ops: 8,
        max_batch_delay: Duration::from_millis(1),
        follower_poll_interval: Duration::from_millis(5),
        ..common::options("local")
    }
}

fn data(client: u64, seq: u64) -> String {
    format!("client {client} seq {seq}")
}

/// Asserts that `e` is the lock refusal: `Unavailable`, naming the directory and another holder.
fn assert_locked(e: &Error, dir: &Path) {
    match e {
        Error::Unavailable { reason } => {
            assert!(
                reason.contains(&dir.display().to_string()),
                "the error names the directory: {reason}"
            );
            assert!(
                reason.contains("another process"),
                "the error says another process holds it: {reason}"
            );
        }
        other => panic!("a second writer must get Unavailable (locked), got {other:?}"),
    }
}

/// Every version in `acked` holds its data in `log`.
async fn assert_all_present(log: &impl Log, acked: &BTreeMap<u64, String>) {
    let Some((&last, _)) = acked.last_key_value() else {
        return;
    };
    assert!(
        log.committed() >= last,
        "acked {last}, log ends at {}",
        log.committed()
    );
    let mut got = BTreeMap::new();
    let mut next = 1;
    while next <= last {
        let batch = log.read(next, 512).await.expect("read back");
        assert!(!batch.is_empty(), "version {next} cannot be read");
        for p in batch {
            got.insert(p.version, String::from_utf8_lossy(&p.op.data).into_owned());
            next = p.version + 1;
        }
    }
    for (v, d) in acked {
        assert_eq!(
            got.get(v),
            Some(d),
            "acknowledged version {v} lost or changed"
        );
    }
}

#[tokio::test]
async fn a_second_writer_is_refused_with_the_directory_named_until_close() {
    common::bounded("second writer refused", async {
        let dir = tempfile::tempdir().unwrap();
        let log = S3Log::open_local(dir.path(), options()).await.unwrap();
        let v = log
            .append(vec![Operation::new("set", "a")], Durability::Local)
            .await
            .unwrap();
        assert!(dir.path().join(LOCAL_LOCK_FILE).exists());
        let e = S3Log::open_local(dir.path(), options()).await.unwrap_err();
        assert_locked(&e, dir.path());
        let e = LocalDirStore::open_writer(dir.path()).unwrap_err();
        assert_locked(&e, dir.path());
        // The first writer is untouched by the refused attempts.
        log.append(vec![Operation::new("set", "b")], Durability::Local)
            .await
            .unwrap();
        log.close().await.unwrap();
        // Closing released the lock: the next writer opens at once and finds both ops.
        let log = S3Log::open_local(dir.path(), options()).await.unwrap();
        let read = log.read(v, 10).await.unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            (&read[0].op.data[..], &read[1].op.data[..]),
            (&b"a"[..], &b"b"[..])
        );
        log.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_dropped_writer_keeps_every_acknowledged_op_and_frees_the_directory() {
    common::bounded("dropped writer", async {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(S3Log::open_local(dir.path(), options()).await.unwrap());
        let mut tasks = Vec::new();
        for client in 0..APPENDERS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for seq in 0..25 {
                    let d = data(client, seq);
                    let v = log
                        .append(vec![Operation::new("put", d.clone())], Durability::Local)
                        .await
                        .unwrap();
                    acked.push((v, d));
                }
                acked
            }));
        }
        let mut acked = BTreeMap::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        // Unacknowledged work in flight at the "crash": may land or not, never acknowledged.
        for i in 0..5 {
            drop(log.append(
                vec![Operation::new("put", format!("late {i}"))],
                Durability::Applied,
            ));
        }
        let log = Arc::into_inner(log).expect("the appenders are done");
        drop(log); // no close: its PUTs in flight finish on their own, then the lock goes
        let reopened = loop {
            match S3Log::open_local(dir.path(), options()).await {
                Ok(log) => break log,
                Err(Error::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err(e) => panic!("reopen after a dropped writer: {e}"),
            }
        };
        assert_all_present(&reopened, &acked).await;
        reopened.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn followers_read_without_the_lock_and_never_write() {
    common::bounded("followers", async {
        let dir = tempfile::tempdir().unwrap();
        let writer = S3Log::open_local(dir.path(), options()).await.unwrap();
        for i in 1..=10u64 {
            writer
                .append(vec![common::op(i)], Durability::Local)
                .await
                .unwrap();
        }
        writer
            .save_snapshot(Snapshot {
                version: 10,
                data: "ten".into(),
            })
            .await
            .unwrap();
        let follower = S3Log::open_local_follower(dir.path(), options())
            .await
            .unwrap();
        assert!(matches!(follower.role(), Role::Follower { .. }));
        assert_eq!(follower.committed(), 10);
        assert_eq!(follower.load_snapshot().await.unwrap().unwrap().version, 10);
        // It tails the writer, which still holds the lock.
        let v = writer
            .append(vec![common::op(11)], Durability::Local)
            .await
            .unwrap();
        assert_eq!(follower.wait_committed(10).await.unwrap(), v);
        assert_eq!(follower.read(v, 1).await.unwrap()[0].op, common::op(11));
        assert!(matches!(
            follower
                .append(vec![common::op(12)], Durability::Local)
                .await,
            Err(Error::NotLeader { .. })
        ));
        // The reader's store refuses writes outright.
        let reader = LocalDirStore::open_reader(dir.path()).unwrap();
        assert!(!reader.holds_lock().await);
        let put = reader.put(&Key::from("local/LATEST"), "x".into()).await;
        assert!(put.is_err(), "a reader store must refuse a put");
        follower.close().await.unwrap();
        writer.close().await.unwrap();
        // A missing directory is a typed error, not an empty log.
        let missing = dir.path().join("nope");
        assert!(matches!(
            S3Log::open_local_follower(&missing, options()).await,
            Err(Error::InvalidArgument(m)) if m.contains("nope")
        ));
    })
    .await
}

#[tokio::test]
async fn a_released_writer_store_refuses_writes_and_a_bare_local_file_system_is_refused() {
    common::bounded("released store", async {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::open_writer(dir.path()).unwrap();
        assert!(store.holds_lock().await);
        store.put(&Key::from("a"), "1".into()).await.unwrap();
        store.release().await;
        assert!(!store.holds_lock().await);
        assert!(store.put(&Key::from("b"), "2".into()).await.is_err());
        assert!(store.delete(&Key::from("a")).await.is_err());
        // Another writer may take the directory now.
        let next = LocalDirStore::open_writer(dir.path()).unwrap();
        next.delete(&Key::from("a")).await.unwrap();
        next.release().await;
        let bare: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        match S3Log::open(bare, options()).await {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("open_local"), "{m}"),
            other => panic!("a bare LocalFileSystem must be refused, got {other:?}"),
        }
    })
    .await
}

/// A failed write (here: `LOG` replaced by a file, so the batch's file cannot be created; a
/// failed fsync takes the same path) stops the writer: the append is never acknowledged, and
/// nothing is read back from the directory whose state is unknown. A reopen recovers.
#[tokio::test]
// The test breaks the directory behind the log's back, with std.
#[allow(clippy::disallowed_methods)]
async fn a_failed_write_poisons_the_writer_and_a_reopen_recovers() {
    common::bounded("failed write", async {
        let dir = tempfile::tempdir().unwrap();
        let opts = S3LogOptions {
            put_attempts: 2,
            ..options()
        };
        let log = S3Log::open_local(dir.path(), opts.clone()).await.unwrap();
        let v = log
            .append(vec![Operation::new("put", "kept")], Durability::Local)
            .await
            .unwrap();
        let log_dir = dir.path().join("local").join("LOG");
        let moved = dir.path().join("local").join("LOG.moved");
        std::fs::rename(&log_dir, &moved).unwrap();
        std::fs::write(&log_dir, "not a directory").unwrap();
        let lost = log
            .append(vec![Operation::new("put", "lost")], Durability::Local)
            .await;
        assert!(
            lost.is_err(),
            "a failed write must not be acknowledged: {lost:?}"
        );
        // Even with the directory repaired, the store that saw a failed write serves nothing
        // (its read-back would otherwise settle a write whose durability is unknown).
        std::fs::remove_file(&log_dir).unwrap();
        std::fs::rename(&moved, &log_dir).unwrap();
        let read = log.read(v, 1).await;
        assert!(read.is_err(), "a poisoned store serves nothing: {read:?}");
        drop(log);
        let log = loop {
            match S3Log::open_local(dir.path(), opts.clone()).await {
                Ok(log) => break log,
                Err(Error::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err(e) => panic!("reopen after a failed write: {e}"),
            }
        };
        assert_eq!(log.committed(), v, "only the acknowledged op is in the log");
        assert_eq!(&log.read(v, 1).await.unwrap()[0].op.data[..], b"kept");
        log.close().await.unwrap();
    })
    .await
}

/// The child's body; a no-op unless run as the child.
#[test]
fn local_writer_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let log = Arc::new(
            S3Log::open_local(&dir, options())
                .await
                .expect("child opens"),
        );
        println!("OPEN");
        let mut tasks = Vec::new();
        for client in 0..APPENDERS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    let d = data(client, seq);
                    let op = Operation::new("put", d.clone());
                    let v = log
                        .append(vec![op], Durability::Local)
                        .await
                        .expect("append");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {v} {d}").unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// A writer process that reports its acknowledgments on a channel, line by line.
struct ChildWriter {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildWriter {
    fn spawn(dir: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "local_writer_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Reads lines until `n` more acknowledgments arrived, recording them in `acked`.
    fn wait_acks(&self, n: usize, acked: &mut BTreeMap<u64, String>) {
        let mut seen = 0;
        while seen < n {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the writer process acknowledges appends");
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (v, d) = rest.split_once(' ').expect("ACK <version> <data>");
                acked.insert(v.parse().unwrap(), d.to_owned());
                seen += 1;
            }
        }
    }

    /// SIGKILL, then every acknowledgment it printed before dying.
    fn kill(mut self, acked: &mut BTreeMap<u64, String>) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        for line in self.lines.iter() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (v, d) = rest.split_once(' ').expect("ACK <version> <data>");
                acked.insert(v.parse().unwrap(), d.to_owned());
            }
        }
    }
}

#[test]
fn a_writer_process_holds_the_directory_until_sigkill_and_loses_no_acknowledged_op() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut acked = BTreeMap::new();
    for cycle in 0..4 {
        let child = ChildWriter::spawn(dir.path());
        child.wait_acks(20, &mut acked);
        rt.block_on(common::bounded("while the child writes", async {
            let e = S3Log::open_local(dir.path(), options()).await.unwrap_err();
            assert_locked(&e, dir.path());
            // A follower reads beside the writer process: at least what it acknowledged so far.
            let follower = S3Log::open_local_follower(dir.path(), options())
                .await
                .unwrap();
            assert_all_present(&follower, &acked).await;
            follower.close().await.unwrap();
        }));
        // Kill it under load, at a different point each cycle.
        child.wait_acks(10 * (cycle + 1), &mut acked);
        child.kill(&mut acked);
        rt.block_on(common::bounded("after SIGKILL", async {
            // The kernel dropped the dead writer's lock: the directory opens at once.
            let log = S3Log::open_local(dir.path(), options()).await.unwrap();
            assert_all_present(&log, &acked).await;
            log.close().await.unwrap();
        }));
    }
    assert!(
        acked.len() >= 4 * 30,
        "every cycle acknowledged ops: {}",
        acked.len()
    );
}
