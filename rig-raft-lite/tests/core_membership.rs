//! Membership changes under the nemesis: spares join as observers (started with the membership
//! the leader answers with), are promoted to voters once caught up, and members other than the
//! leader are removed, while messages are dropped, duplicated and reordered, partitions come and
//! go, nodes crash (power loss) and leadership moves. After every step the harness checks one
//! leader per term, log matching, committed entries never changing and leader completeness;
//! after healing, every member of the final membership commits a new entry. With snapshots on,
//! nodes compact, so joiners catch up from a snapshot streamed in tiny chunks.

mod support;

use rig_raft_lite::core::CommitMode;
use support::cluster::{Cluster, Crash, Options, Stats};

fn sweep(seeds: std::ops::Range<u64>, opts: Options) -> Stats {
    // RAFT_SEED=s replays one seed (with RAFT_TRACE=1 printing every delivered message).
    let seeds = match std::env::var("RAFT_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) if seeds.contains(&s) => s..s + 1,
        Some(_) => return Stats::default(),
        None => seeds,
    };
    let mut total = Stats::default();
    for seed in seeds {
        if std::env::var("RAFT_TRACE_SEED").is_ok() {
            eprintln!("seed {seed}");
        }
        let mut c = Cluster::new(seed, opts.clone());
        c.run();
        let s = &c.stats;
        total.elections += s.elections;
        total.crashes += s.crashes;
        total.committed += s.committed;
        total.added += s.added;
        total.promoted += s.promoted;
        total.removed += s.removed;
        total.elections_mid_change += s.elections_mid_change;
        total.snapshots_installed += s.snapshots_installed;
        total.joiner_installs += s.joiner_installs;
    }
    if total.committed == 0 {
        return total; // a replayed seed of another test
    }
    // Every kind of change happened, and some leader was elected while one was in flight.
    assert!(
        total.added > 0 && total.promoted > 0 && total.removed > 0,
        "{total:?}"
    );
    assert!(
        total.elections_mid_change > 0 && total.crashes > 0 && total.committed > 0,
        "{total:?}"
    );
    total
}

#[test]
fn strict_three_nodes_grow_and_shrink() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 2500,
        spare: 2,
        chunk: 0,
    };
    sweep(5000..5080, opts);
}

#[test]
fn volatile_three_nodes_grow_and_shrink() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Volatile,
        crash: Crash::Process,
        steps: 2500,
        spare: 2,
        chunk: 0,
    };
    sweep(6000..6060, opts);
}

#[test]
fn strict_five_nodes_power_loss() {
    let opts = Options {
        nodes: 5,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 2500,
        spare: 2,
        chunk: 0,
    };
    sweep(7000..7040, opts);
}

#[test]
fn strict_three_nodes_joiners_catch_up_from_snapshots() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 2500,
        spare: 2,
        chunk: 16,
    };
    let total = sweep(8000..8030, opts);
    assert!(total.joiner_installs > 0, "{total:?}");
}

#[test]
fn volatile_five_nodes_joiners_catch_up_from_snapshots() {
    let opts = Options {
        nodes: 5,
        mode: CommitMode::Volatile,
        crash: Crash::Process,
        steps: 2500,
        spare: 2,
        chunk: 16,
    };
    let total = sweep(9000..9020, opts);
    assert!(total.joiner_installs > 0, "{total:?}");
}
