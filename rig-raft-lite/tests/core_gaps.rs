//! Out-of-order acceptance and gap filling under the nemesis (drops, duplication, heavy
//! reordering, partitions, crashes): followers keep appends that arrive beyond a gap, fill the
//! gap from peers (committed entries) or the leader, and never apply past the gap. The harness
//! checks after every step that each node applies in order and never past `min(commit, last)`
//! of its contiguous log, plus every part-1 safety property; the sweep requires that some gaps
//! were filled by a peer other than the leader.

mod support;

use bytes::Bytes;
use rig_core::seams::SeededRand;
use rig_raft_lite::core::stream::encode_frame;
use rig_raft_lite::core::{CommitMode, Config, Entry, Input, Message, Output, Raft, Restored};
use support::cluster::{Cluster, Crash, Options};

fn sweep(seeds: std::ops::Range<u64>, opts: Options) -> (u64, u64) {
    // RAFT_SEED=s replays one seed (with RAFT_TRACE=1 printing every delivered message).
    let seeds = match std::env::var("RAFT_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) if seeds.contains(&s) => s..s + 1,
        Some(_) => return (0, 0),
        None => seeds,
    };
    let (mut peers, mut leader) = (0, 0);
    for seed in seeds {
        if std::env::var("RAFT_TRACE_SEED").is_ok() {
            eprintln!("seed {seed}");
        }
        let mut c = Cluster::new(seed, opts.clone());
        c.run();
        peers += c.stats.filled_from_peers;
        leader += c.stats.filled_from_leader;
    }
    assert!(
        peers > 0,
        "no gap was filled by a peer other than the leader ({leader} by the leader)"
    );
    (peers, leader)
}

#[test]
fn strict_three_nodes_fill_gaps_from_peers() {
    let opts = Options {
        nodes: 3,
        mode: CommitMode::Strict,
        crash: Crash::PowerLoss,
        steps: 1500,
        spare: 0,
        chunk: 0,
    };
    sweep(8000..8030, opts);
}

#[test]
fn volatile_five_nodes_fill_gaps_from_peers() {
    let opts = Options {
        nodes: 5,
        mode: CommitMode::Volatile,
        crash: Crash::Process,
        steps: 1500,
        spare: 0,
        chunk: 0,
    };
    sweep(9000..9030, opts);
}

/// While one gap stays open, appends that keep arriving above it are stashed without asking for
/// the gap again each time (that fetched the same range once per append, most of it from the
/// leader); the gap is asked for when it opens, and again each heartbeat interval.
#[test]
fn an_open_gap_is_requested_once_not_once_per_append_above_it() {
    let mut follower = Raft::new(
        Config::new(2, vec![1, 2, 3]),
        Box::new(SeededRand::new(1)),
        Restored::default(),
    );
    let append = |prev_index: u64| {
        let entry = Entry {
            term: 1,
            index: prev_index + 1,
            data: Bytes::from_static(b"op"),
        };
        let (prev_term, commit, durable) = (u64::from(prev_index > 0), 0, 0);
        let mut frame = bytes::BytesMut::new();
        encode_frame(&entry, prev_term, &mut frame);
        // Every frame is as long as this one: positions are multiples of it.
        let base = prev_index * frame.len() as u64;
        Message::Append {
            term: 1,
            prev_index,
            prev_term,
            base,
            start: base,
            cont: None,
            bytes: frame.freeze(),
            commit,
            durable,
        }
    };
    let mut fetches = 0;
    // Entry 1 matches the leader; entries 2 and 3 are lost; 4..=10 arrive above the gap.
    for prev_index in [0, 3, 4, 5, 6, 7, 8, 9] {
        follower.step(Input::Message(1, append(prev_index)));
        let outputs = follower.take_outputs();
        fetches += outputs
            .iter()
            .filter(|o| matches!(o, Output::Send(_, Message::Fetch { .. })))
            .count();
    }
    assert_eq!(
        follower.stashed(),
        7,
        "one stashed range per append above the gap"
    );
    assert_eq!(fetches, 1, "one request for the open gap");
}
