//! The sans-IO core under seeded chaos: 3- and 5-node groups, Strict and Volatile modes, with
//! drops, duplication, reordering, partitions, crashes and restarts; safety checked every step.
//! Nodes snapshot their state machine and compact the log through it, so lagging members catch
//! up from snapshots streamed in 16-byte chunks (several per snapshot). Appends carry ranges of
//! 24 to 300 bytes of the leader's stream (mostly), so entries' frames are split across appends
//! under every fault; the harness checks that storage only ever gets whole, chained frames.

mod support;

use rig_raft_lite::core::CommitMode;
use support::cluster::{Cluster, Crash, Options, Stats};

fn sweep(seeds: std::ops::Range<u64>, opts: Options) -> Stats {
    let mut total = Stats::default();
    for seed in seeds {
        let mut c = Cluster::new(seed, opts.clone());
        c.run();
        let s = &c.stats;
        total.elections += s.elections;
        total.transfers += s.transfers;
        total.crashes += s.crashes;
        total.committed += s.committed;
        total.reads += s.reads;
        total.compactions += s.compactions;
        total.snapshots_saved += s.snapshots_saved;
        total.snapshot_chunks += s.snapshot_chunks;
        total.snapshots_installed += s.snapshots_installed;
        total.continued_ranges += s.continued_ranges;
    }
    // The faults and features were exercised (a sweep that never elects or commits proves nothing).
    assert!(
        total.elections > 0 && total.committed > 0 && total.crashes > 0,
        "{total:?}"
    );
    assert!(
        total.reads > 0 && total.transfers > 0 && total.compactions > 0,
        "{total:?}"
    );
    // Snapshots were streamed and installed under the faults (each one over several chunks).
    assert!(
        total.snapshots_installed > 0 && total.snapshot_chunks >= 2 * total.snapshots_installed,
        "{total:?}"
    );
    // Frames were split across appends (a range continued a frame an earlier one began).
    assert!(total.continued_ranges > 0, "{total:?}");
    println!("{total:?}");
    total
}

#[test]
fn strict_three_nodes_power_loss() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 1500,
        spare: 0,
        chunk: 16,
    };
    sweep(0..80, opts);
}

#[test]
fn strict_five_nodes_power_loss() {
    let opts = Options {
        nodes: 5,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 1500,
        spare: 0,
        chunk: 16,
    };
    sweep(1000..1060, opts);
}

#[test]
fn volatile_three_nodes_process_crash() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Volatile,
        crash: Crash::Process,
        steps: 1500,
        spare: 0,
        chunk: 16,
    };
    sweep(2000..2040, opts);
}

#[test]
fn volatile_five_nodes_power_loss_keeps_durable() {
    let opts = Options {
        nodes: 5,
        mode: CommitMode::Volatile,
        crash: Crash::PowerLoss,
        steps: 1500,
        spare: 0,
        chunk: 16,
    };
    sweep(3000..3040, opts);
}
