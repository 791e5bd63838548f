//! Three real processes over loopback TCP (rig-core's authenticated links, FsStorage on disk):
//! writes flow, the leader is killed with SIGKILL, a new leader is elected and writes continue,
//! the old leader restarts, and every acknowledged op is present on every node.
//!
//! The children are this test binary re-executed with `RIG_RAFT_CHILD` set: `raft_child_process`
//! runs one node, appends while it leads and prints `ACK <version> <method>` per acknowledged op;
//! on `DUMP <version>` from stdin it waits until that version is committed and prints its log.
// Real processes in real time: the parent spawns, kills and reads pipes with std.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rig_core::net::handshake::HandshakeConfig;
use rig_core::seams::{SeededRand, StdFs, TcpTransport, TokioClock, Transport};
use rig_core::{Durability, Log, Operation, Role};
use rig_raft_lite::core::{CommitMode, Config};
use rig_raft_lite::driver::{NetNetwork, Options, RaftLog};
use rig_raft_lite::storage::FsStorage;

const CHILD_ENV: &str = "RIG_RAFT_CHILD";

/// The child's body; a no-op unless run as a child.
#[test]
fn raft_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(';').collect();
    let id: u64 = parts[0].parse().unwrap();
    let dir = parts[1].to_string();
    let addrs: Vec<String> = parts[2].split(',').map(String::from).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpTransport
            .listen(&addrs[(id - 1) as usize])
            .await
            .expect("listen");
        let others = (1..=3u64)
            .filter(|&p| p != id)
            .map(|p| (p, addrs[(p - 1) as usize].clone()))
            .collect();
        let cfg = HandshakeConfig::new("raft-test", [1, 1], id.to_string(), b"psk".to_vec());
        let rand = Arc::new(SeededRand::from_entropy());
        let (net, inbox) = NetNetwork::start(
            cfg,
            others,
            listener,
            Arc::new(TcpTransport),
            Arc::new(TokioClock),
            rand,
        );
        let mut config = Config::new(id, vec![1, 2, 3]);
        config.commit_mode = CommitMode::Strict;
        let storage =
            FsStorage::open(Arc::new(StdFs), std::path::Path::new(&dir)).expect("open storage");
        let log = Arc::new(
            RaftLog::start(
                Options::new(config),
                Box::new(storage),
                Arc::new(net),
                inbox,
                Arc::new(TokioClock),
                Box::new(SeededRand::from_entropy()),
            )
            .expect("start"),
        );
        let dumper = log.clone();
        let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { return };
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                let Some(target) = line
                    .strip_prefix("DUMP ")
                    .and_then(|v| v.parse::<u64>().ok())
                else {
                    continue;
                };
                while dumper.committed() < target {
                    let _ = dumper.wait_committed(dumper.committed()).await;
                }
                let entries = dumper.read(1, usize::MAX).await.expect("read");
                let mut out = std::io::stdout().lock();
                for p in &entries {
                    writeln!(out, "ENTRY {} {}", p.version, p.op.method).unwrap();
                }
                writeln!(out, "DUMPED").unwrap();
                out.flush().unwrap();
            }
        });
        for n in 0u64.. {
            if log.role() != Role::Leader {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            let method = format!("w{id}-{n}");
            if let Ok(v) = log
                .append(
                    vec![Operation::new(method.clone(), "x")],
                    Durability::Replicated,
                )
                .await
            {
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {v} {method}").unwrap();
                out.flush().unwrap();
            }
        }
    });
}

struct Node {
    child: Child,
    stdin: ChildStdin,
}

fn spawn(id: u64, dir: &std::path::Path, addrs: &str, tx: mpsc::Sender<(u64, String)>) -> Node {
    let spec = format!("{id};{};{addrs}", dir.join(format!("n{id}")).display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "raft_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a node");
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // libtest may print "test raft_child_process ... " before the child's first line.
            let start = ["ACK ", "ENTRY ", "DUMPED"]
                .iter()
                .filter_map(|m| line.find(m))
                .min();
            let Some(start) = start else { continue };
            if tx.send((id, line[start..].to_string())).is_err() {
                return;
            }
        }
    });
    let stdin = child.stdin.take().unwrap();
    Node { child, stdin }
}

/// Collects acknowledgments until `n` more arrived from a node other than `not`.
fn collect(
    rx: &mpsc::Receiver<(u64, String)>,
    acked: &mut BTreeMap<u64, String>,
    n: usize,
    not: Option<u64>,
) -> u64 {
    let mut got = 0;
    loop {
        let (id, line) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("acknowledgments keep coming");
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (v, method) = rest.split_once(' ').unwrap();
            let v: u64 = v.parse().unwrap();
            if let Some(prev) = acked.insert(v, method.to_string()) {
                assert_eq!(
                    prev, method,
                    "version {v} acknowledged twice with different ops"
                );
            }
            if Some(id) != not {
                got += 1;
                if got >= n {
                    return id;
                }
            }
        }
    }
}

#[test]
fn sigkill_the_leader_and_every_acknowledged_op_survives() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rig-raft-proc-{}", std::process::id()));
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let addrs = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let (tx, rx) = mpsc::channel();
    let mut nodes: BTreeMap<u64, Node> = (1..=3)
        .map(|id| (id, spawn(id, &dir, &addrs, tx.clone())))
        .collect();
    let mut acked = BTreeMap::new();

    let leader = collect(&rx, &mut acked, 30, None);
    let mut old = nodes.remove(&leader).unwrap();
    old.child.kill().unwrap(); // SIGKILL
    old.child.wait().unwrap();
    let new_leader = collect(&rx, &mut acked, 30, Some(leader));
    assert_ne!(new_leader, leader);

    nodes.insert(leader, spawn(leader, &dir, &addrs, tx.clone()));
    collect(&rx, &mut acked, 20, None);

    let target = *acked.keys().last().unwrap();
    for node in nodes.values_mut() {
        writeln!(node.stdin, "DUMP {target}").unwrap();
        node.stdin.flush().unwrap();
    }
    let mut dumps: BTreeMap<u64, BTreeMap<u64, String>> = BTreeMap::new();
    let mut done = 0;
    while done < 3 {
        let (id, line) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("dumps arrive");
        if line == "DUMPED" {
            done += 1;
        } else if let Some(rest) = line.strip_prefix("ENTRY ") {
            let (v, method) = rest.split_once(' ').unwrap();
            dumps
                .entry(id)
                .or_default()
                .insert(v.parse().unwrap(), method.to_string());
        }
    }
    for node in nodes.values_mut() {
        let _ = node.child.kill();
        let _ = node.child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (id, log) in &dumps {
        let versions: Vec<u64> = log.keys().copied().collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "node {id}: gap-free"
        );
        for (v, method) in &acked {
            assert_eq!(
                log.get(v),
                Some(method),
                "node {id} lost acknowledged version {v}"
            );
        }
    }
    assert_eq!(dumps.len(), 3);
}
