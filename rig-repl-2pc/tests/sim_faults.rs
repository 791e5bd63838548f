//! Seeded fault runs over rig-testkit's SimNet: concurrent appends while the primary or the
//! replica crashes mid-round, the replica is wiped, links partition and reset, the primary
//! snapshots and compacts (so a wiped replica rejoins from the snapshot). Then a liveness
//! phase (faults off) and the checks: no acknowledged op lost, and the replica's log equals the
//! primary's committed log.
//!
//! Time is real (the nodes fsync real files in temporary directories); the seed decides every
//! fault. A failing seed prints itself.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rig_core::seams::{Rand, SeededRand};
use rig_core::{Durability, Log, Operation, Snapshot};
use rig_repl_2pc::{Config, Policy, ReplLog, StartAs};
use rig_testkit::simnet::{LinkConfig, SimNet, SimNetController};
use support::{file, handshake};

const P: &str = "p:7000";
const R: &str = "r:7000";

struct Cluster {
    net: SimNet,
    ctl: SimNetController,
    policy: Policy,
    root: PathBuf,
    replica_gen: u32,
    primary: Option<ReplLog>,
    replica: Option<ReplLog>,
    seed: u64,
}

impl Cluster {
    fn config(&self, node: &str, listen: &str, start_as: StartAs) -> Config {
        let mut c = Config::new(listen, start_as, handshake(node));
        c.transport = Arc::new(self.net.node(node));
        c.rand = Arc::new(SeededRand::new(self.seed ^ node.len() as u64));
        c.policy = self.policy;
        c
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    async fn start_primary(&mut self) {
        let cfg = self.config(
            "p",
            P,
            StartAs::Primary {
                replicas: vec![R.into()],
            },
        );
        let log = ReplLog::open(file(&self.dir("p")).unwrap(), cfg)
            .await
            .unwrap();
        self.primary = Some(log);
    }

    async fn start_replica(&mut self) {
        let cfg = self.config("r", R, StartAs::Replica);
        let dir = self.dir(&format!("r{}", self.replica_gen));
        let log = ReplLog::open(file(&dir).unwrap(), cfg).await.unwrap();
        self.replica = Some(log);
    }
}

async fn run(seed: u64, policy: Policy, root: &Path) {
    let rand = SeededRand::new(seed);
    let (net, ctl) = SimNet::new(SeededRand::new(seed));
    let mut c = Cluster {
        net,
        ctl,
        policy,
        root: root.to_path_buf(),
        replica_gen: 0,
        primary: None,
        replica: None,
        seed,
    };
    c.start_replica().await;
    c.start_primary().await;
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut next_tag = 0u64;
    for _step in 0..25 {
        // Concurrent appends, possibly cut short by a crash at a random point of the round.
        let mut inflight = Vec::new();
        if let Some(p) = &c.primary {
            for _ in 0..1 + rand.below(6) {
                next_tag += 1;
                let tag = format!("op-{next_tag}");
                let fut = p.append(
                    vec![Operation::new("put", tag.clone())],
                    Durability::Replicated,
                );
                inflight.push((tag, tokio::spawn(fut)));
            }
        }
        let fault = rand.below(12);
        if std::env::var("RIG_TRACE").is_ok() {
            eprintln!("step {_step}: fault {fault}, {} in flight", inflight.len());
        }
        if fault < 6 {
            tokio::time::sleep(Duration::from_micros(rand.below(3000))).await;
        }
        match fault {
            0 => {
                if let Some(p) = c.primary.take() {
                    p.halt().await;
                }
            }
            1 => {
                if let Some(r) = c.replica.take() {
                    r.halt().await;
                }
            }
            2 => {
                if let Some(r) = c.replica.take() {
                    r.halt().await;
                }
                c.replica_gen += 1; // wiped: it rejoins empty
            }
            3 => c.ctl.partition(&["p"], &["r"]),
            4 => c.ctl.set_default_link(LinkConfig {
                reset_per_mille: 50,
                ..LinkConfig::default()
            }),
            5 | 6 => c.ctl.heal(),
            7 | 8 => {
                if let Some(p) = &c.primary {
                    // Fails only once the node stopped (a later fault may have fenced it).
                    if let Err(e) = snapshot_and_compact(p).await {
                        assert!(
                            !matches!(e, rig_core::Error::Corrupt { .. }),
                            "seed {seed}: {e:?}"
                        );
                    }
                }
            }
            _ => {}
        }
        for (tag, h) in inflight {
            if let Ok(Ok(v)) = h.await {
                assert!(
                    acked.insert(v, tag).is_none(),
                    "seed {seed}: version {v} acknowledged twice"
                );
            }
        }
        if c.primary.is_none() && rand.below(2) == 0 {
            c.start_primary().await;
        }
        if c.replica.is_none() && rand.below(2) == 0 {
            c.start_replica().await;
        }
    }
    // Liveness: faults off, everyone up, one more op must commit on both.
    c.ctl.heal();
    if c.primary.is_none() {
        c.start_primary().await;
    }
    if c.replica.is_none() {
        c.start_replica().await;
    }
    let (p, r) = (c.primary.as_ref().unwrap(), c.replica.as_ref().unwrap());
    let last = loop {
        match p
            .append(vec![Operation::new("put", "final")], Durability::Replicated)
            .await
        {
            Ok(v) => break v,
            Err(e) => assert!(!e.is_fatal(), "seed {seed}: {e:?}"),
        }
    };
    let on_primary = full_log(p, last).await;
    let on_replica = full_log(r, last).await;
    for (v, tag) in &acked {
        assert_eq!(
            on_primary.get(*v as usize - 1),
            Some(tag),
            "seed {seed}: lost ack at {v}"
        );
    }
    assert_eq!(
        on_replica[..last as usize],
        on_primary[..last as usize],
        "seed {seed}: replica diverged"
    );
}

/// The snapshot's data: the committed entries' data through its version, one per line.
fn lines(s: &Snapshot) -> Vec<String> {
    let text = String::from_utf8(s.data.to_vec()).unwrap();
    let lines: Vec<String> = text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(
        lines.len() as u64,
        s.version,
        "snapshot at {} holds {}",
        s.version,
        lines.len()
    );
    lines
}

/// What an engine would do: snapshot the state (here, every committed entry) and compact.
async fn snapshot_and_compact(log: &ReplLog) -> rig_core::Result<()> {
    let through = log.committed();
    let mut all = match log.load_snapshot().await? {
        Some(s) => lines(&s),
        None => Vec::new(),
    };
    let from = all.len() as u64 + 1;
    if through < from {
        return Ok(());
    }
    for p in log.read(from, (through - from + 1) as usize).await? {
        all.push(String::from_utf8(p.op.data.to_vec()).unwrap());
    }
    let data = all.join("\n");
    log.save_snapshot(Snapshot {
        version: through,
        data: data.into(),
    })
    .await?;
    log.compact(through).await
}

/// The whole committed log through `through`: the snapshot's entries, then the log's.
async fn full_log(log: &ReplLog, through: u64) -> Vec<String> {
    while log.committed() < through {
        log.wait_committed(log.committed()).await.expect("tail");
    }
    let mut all = match log.load_snapshot().await.unwrap() {
        Some(s) => lines(&s),
        None => Vec::new(),
    };
    let from = all.len() as u64 + 1;
    for p in log.read(from, usize::MAX).await.unwrap() {
        all.push(String::from_utf8(p.op.data.to_vec()).unwrap());
    }
    all
}

fn seeds() -> impl Iterator<Item = u64> {
    let base = std::env::var("RIG_SEED").ok().and_then(|s| s.parse().ok());
    base.map_or(1..5, |s| s..s + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_sync_under_faults_keeps_every_ack() {
    for seed in seeds() {
        let root = tempfile::tempdir().unwrap();
        eprintln!(
            "seed {seed} (replay: RIG_SEED={seed} cargo test -p rig-repl-2pc --test sim_faults)"
        );
        run(
            seed,
            Policy::SemiSync {
                timeout: Duration::from_millis(50),
            },
            root.path(),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_under_faults_keeps_every_ack() {
    for seed in seeds() {
        let root = tempfile::tempdir().unwrap();
        eprintln!(
            "seed {seed} (replay: RIG_SEED={seed} cargo test -p rig-repl-2pc --test sim_faults)"
        );
        run(
            seed,
            Policy::Strict {
                timeout: Duration::from_millis(50),
            },
            root.path(),
        )
        .await;
    }
}
