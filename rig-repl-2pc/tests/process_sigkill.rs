//! Real processes over loopback TCP: a primary and a replica as separate OS processes under
//! load, each killed with SIGKILL and restarted; every acknowledged op is present afterwards and
//! the replica's committed log is a prefix of the primary's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rig-2pc-node");

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Node {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line, "listening <addr>".
    fn addr(&self) -> String {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("node started");
        line.strip_prefix("listening ")
            .expect("listening line")
            .to_string()
    }

    /// Collects acknowledgments until `more` new ones arrived.
    fn collect_acks(&self, more: usize, acked: &mut BTreeMap<u64, String>) {
        let mut got = 0;
        while got < more {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("acknowledgments keep coming");
            let mut parts = line.splitn(3, ' ');
            if parts.next() == Some("ack") {
                let v: u64 = parts.next().unwrap().parse().unwrap();
                let data = parts.next().unwrap().to_string();
                assert!(
                    acked.insert(v, data).is_none(),
                    "version {v} acknowledged twice"
                );
                got += 1;
            }
        }
    }

    fn kill(mut self, acked: &mut BTreeMap<u64, String>) {
        self.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on unix
        self.child.wait().unwrap();
        // Acks printed before the kill still count.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            let mut parts = line.splitn(3, ' ');
            if parts.next() == Some("ack") {
                let v: u64 = parts.next().unwrap().parse().unwrap();
                acked.insert(v, parts.next().unwrap().to_string());
            }
        }
    }
}

/// The committed entries of the log in `dir`: as it is (`dump`), or as its node serves them once
/// restarted as a primary (`recovered`: an ack does not wait for the primary's `Commit` record's
/// fsync, and a restarted primary commits its prepared tail again before anything else).
fn dump(how: &str, dir: &Path) -> BTreeMap<u64, String> {
    let out = Command::new(BIN)
        .args([how, dir.to_str().unwrap()])
        .output()
        .expect("dump");
    assert!(out.status.success(), "dump of {}", dir.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (v, d) = l.split_once(' ').unwrap();
            (v.parse().unwrap(), d.to_string())
        })
        .collect()
}

#[test]
fn sigkilled_primary_and_replica_keep_every_ack() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = (root.path().join("p"), root.path().join("r"));
    let (pd_s, rd_s) = (pd.to_str().unwrap(), rd.to_str().unwrap());
    let mut acked = BTreeMap::new();

    let replica = Node::start(&["replica", rd_s, "127.0.0.1:0"]);
    let raddr = replica.addr();
    let primary = Node::start(&["primary", pd_s, "127.0.0.1:0", &raddr, "one"]);
    primary.addr();
    primary.collect_acks(200, &mut acked);

    // Kill the primary under load and restart it.
    primary.kill(&mut acked);
    let primary = Node::start(&["primary", pd_s, "127.0.0.1:0", &raddr, "two"]);
    primary.addr();
    primary.collect_acks(200, &mut acked);

    // Kill the replica under load; Strict stalls until it is back on the same address.
    replica.kill(&mut acked);
    let replica = Node::start(&["replica", rd_s, &raddr]);
    replica.addr();
    primary.collect_acks(200, &mut acked);

    primary.kill(&mut acked);
    replica.kill(&mut acked);

    let on_primary = dump("recovered", &pd);
    let on_replica = dump("dump", &rd);
    for (v, data) in &acked {
        assert_eq!(
            on_primary.get(v),
            Some(data),
            "acknowledged version {v} lost"
        );
    }
    for (v, data) in &on_replica {
        assert_eq!(on_primary.get(v), Some(data), "replica diverged at {v}");
    }
    assert!(acked.len() >= 600);
    eprintln!(
        "acked {}, primary committed {}, replica committed {}",
        acked.len(),
        on_primary.len(),
        on_replica.len()
    );
}

#[test]
fn promotion_after_the_primary_dies_keeps_every_ack() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = (root.path().join("p"), root.path().join("r"));
    let (pd_s, rd_s) = (pd.to_str().unwrap(), rd.to_str().unwrap());
    let mut acked = BTreeMap::new();

    let replica = Node::start(&["replica", rd_s, "127.0.0.1:0"]);
    let raddr = replica.addr();
    let primary = Node::start(&["primary", pd_s, "127.0.0.1:0", &raddr, "one"]);
    primary.addr();
    primary.collect_acks(200, &mut acked);

    // The primary's machine dies under load. The old primary comes back as a replica and the
    // old replica is promoted (its process restarted for the occasion) towards it.
    primary.kill(&mut acked);
    replica.kill(&mut acked);
    let old = Node::start(&["replica", pd_s, "127.0.0.1:0"]);
    let old_addr = old.addr();
    let promoted = Node::start(&["promote", rd_s, "127.0.0.1:0", &old_addr, "two"]);
    promoted.addr();
    promoted.collect_acks(200, &mut acked);
    promoted.kill(&mut acked);
    old.kill(&mut acked);

    let on_new = dump("recovered", &rd);
    let on_old = dump("dump", &pd);
    for (v, data) in &acked {
        assert_eq!(on_new.get(v), Some(data), "acknowledged version {v} lost");
    }
    for (v, data) in &on_old {
        assert_eq!(on_new.get(v), Some(data), "the old primary diverged at {v}");
    }
    assert!(acked.values().any(|d| d.starts_with("two-")));
}
