//! Directed scenarios for snapshot streaming in the core: a leader that compacted its log sends
//! its snapshot image to a joining observer in bounded chunks with a bounded window, resumes from
//! the offset the member asks for, starts over when its snapshot changes or the stream stalls;
//! a member stages chunks in order, answers with the offset it wants, and takes the snapshot's
//! log position and membership once its driver installed it.

use bytes::Bytes;
use rig_core::seams::SeededRand;
use rig_raft_lite::core::{
    Change, Config, Input, Message, NodeId, Output, Raft, Restored, SnapshotImage,
};

const CHUNK: usize = 16;

fn config(id: NodeId, voters: Vec<NodeId>) -> Config {
    config_retaining(id, voters, 0)
}

fn config_retaining(id: NodeId, voters: Vec<NodeId>, retention: u64) -> Config {
    let mut cfg = Config::new(id, voters);
    cfg.compaction_retention = retention;
    cfg.snapshot_chunk = CHUNK;
    cfg.snapshot_window = 2;
    cfg.snapshot_timeout_ticks = 6;
    cfg
}

/// Steps `input` and persists what the node wrote at once; returns the messages it sent.
fn step(node: &mut Raft, input: Input) -> Vec<(NodeId, Message)> {
    node.step(input);
    let mut sent = Vec::new();
    loop {
        let outs = node.take_outputs();
        if outs.is_empty() {
            return sent;
        }
        let mut last = None;
        for out in outs {
            match out {
                Output::Send(to, m) => sent.push((to, m)),
                Output::PersistEntries(es, _) => last = es.last().map(|e| (e.index, e.term)),
                _ => {}
            }
        }
        if let Some((index, term)) = last {
            node.step(Input::Persisted { index, term });
        }
    }
}

fn chunks(sent: &[(NodeId, Message)]) -> Vec<(u64, u64, usize)> {
    sent.iter()
        .filter_map(|(_, m)| match m {
            Message::Snapshot {
                index,
                offset,
                data,
                ..
            } => Some((*index, *offset, data.len())),
            _ => None,
        })
        .collect()
}

/// An image the core streams without looking inside (`len` bytes).
fn image(node: &Raft, index: u64, len: usize) -> SnapshotImage {
    SnapshotImage {
        meta: node.meta_for(index).expect("applied and in the log"),
        bytes: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<_>>()),
    }
}

/// A one-voter leader with `n` entries applied, snapshotted (a `len`-byte image) and compacted.
fn compacted_leader(n: usize, len: usize) -> Raft {
    compacted_leader_retaining(n, len, 0)
}

fn compacted_leader_retaining(n: usize, len: usize, retention: u64) -> Raft {
    let mut leader = Raft::new(
        config_retaining(1, vec![1], retention),
        Box::new(SeededRand::new(3)),
        Restored::default(),
    );
    while !leader.is_leader() {
        step(&mut leader, Input::Tick);
    }
    for i in 0..n {
        step(
            &mut leader,
            Input::Propose(vec![Bytes::from(vec![i as u8])]),
        );
    }
    let applied = leader.applied();
    let img = image(&leader, applied, len);
    step(&mut leader, Input::SnapshotSaved(img));
    step(&mut leader, Input::Compact(applied));
    assert_eq!(leader.compacted(), applied - retention);
    leader
}

/// Adds observer 2 and gets the leader to find out it needs the snapshot; returns the first
/// chunks sent.
fn start_stream(leader: &mut Raft) -> Vec<(NodeId, Message)> {
    let add = Change::AddObserver {
        id: 2,
        addr: String::new(),
    };
    step(leader, Input::ChangeMembership(add));
    let term = leader.term();
    // The observer answers heartbeats (and a probe, if the leader sends one) with an empty log.
    for _ in 0..10 {
        let mut sent = step(leader, Input::Tick);
        sent.extend(step(
            leader,
            Input::Message(2, Message::HeartbeatResp { term, seq: 0 }),
        ));
        if !chunks(&sent).is_empty() {
            return sent;
        }
        let probe = sent.iter().find_map(|(to, m)| match m {
            Message::Append { prev_index, .. } if *to == 2 => Some(*prev_index),
            _ => None,
        });
        if let Some(prev_index) = probe {
            let reject = Message::AppendResp {
                term,
                index: prev_index,
                persisted: 0,
                reject: Some(0),
                received: 0,
            };
            return step(leader, Input::Message(2, reject));
        }
    }
    panic!("the leader never streamed to the observer");
}

fn resp(term: u64, index: u64, next: u64, done: bool) -> Input {
    Input::Message(
        2,
        Message::SnapshotResp {
            term,
            index,
            next,
            done,
        },
    )
}

#[test]
fn chunks_are_bounded_and_windowed_and_resume_where_the_member_asks() {
    let mut leader = compacted_leader(5, 70);
    let index = leader.compacted();
    let sent = start_stream(&mut leader);
    let t = leader.term();
    // Two chunks of at most 16 bytes, then the window is full.
    assert_eq!(chunks(&sent), vec![(index, 0, 16), (index, 16, 16)]);
    assert!(leader.progress_of(2).unwrap().receiving_snapshot());
    // Each confirmation opens the window by one chunk; a duplicate answer opens nothing.
    assert_eq!(
        chunks(&step(&mut leader, resp(t, index, 16, false))),
        vec![(index, 32, 16)]
    );
    assert_eq!(
        chunks(&step(&mut leader, resp(t, index, 16, false))),
        vec![]
    );
    assert_eq!(
        chunks(&step(&mut leader, resp(t, index, 48, false))),
        vec![(index, 48, 16), (index, 64, 6)]
    );
    // The member lost what it staged (a restart): the leader resumes from where it asks.
    assert_eq!(
        chunks(&step(&mut leader, resp(t, index, 32, false))),
        vec![(index, 32, 16), (index, 48, 16)]
    );
    // Installed: back to appends right after the snapshot.
    let sent = step(&mut leader, resp(t, index, 70, true));
    assert!(!leader.progress_of(2).unwrap().receiving_snapshot());
    assert!(
        sent.iter().any(|(to, m)| *to == 2
            && matches!(m, Message::Append { prev_index, .. } if *prev_index == index)),
        "{sent:?}"
    );
}

#[test]
fn a_newer_snapshot_restarts_the_stream_and_a_stall_is_resent() {
    let mut leader = compacted_leader(4, 50);
    let old = leader.compacted();
    start_stream(&mut leader);
    let t = leader.term();
    step(&mut leader, resp(t, old, 16, false));
    // The engine snapshots again: the next chunk is the new snapshot's first.
    step(
        &mut leader,
        Input::Propose(vec![Bytes::from_static(b"more")]),
    );
    let new = leader.applied();
    let img = image(&leader, new, 40);
    step(&mut leader, Input::SnapshotSaved(img));
    step(&mut leader, Input::Compact(new));
    let sent = step(&mut leader, resp(t, old, 32, false));
    assert_eq!(chunks(&sent), vec![(new, 0, 16), (new, 16, 16)]);
    // No answer for the timeout: the unconfirmed window goes again.
    let mut resent = Vec::new();
    for _ in 0..6 {
        resent.extend(step(&mut leader, Input::Tick));
    }
    assert_eq!(chunks(&resent), vec![(new, 0, 16), (new, 16, 16)]);
}

/// A member of a two-voter group (node 1 leads term 1) receiving a stream.
fn member() -> Raft {
    let mut m = Raft::new(
        config(2, vec![1, 2]),
        Box::new(SeededRand::new(4)),
        Restored::default(),
    );
    let hb = Message::Heartbeat {
        term: 1,
        commit: 0,
        durable: 0,
        floor: 0,
        seq: 0,
    };
    step(&mut m, Input::Message(1, hb));
    m
}

fn chunk(term: u64, offset: u64, data: &'static [u8], total: u64) -> Input {
    Input::Message(
        1,
        Message::Snapshot {
            term,
            index: 9,
            snap_term: 1,
            offset,
            total,
            data: Bytes::from_static(data),
        },
    )
}

fn stage_and_answer(m: &mut Raft, input: Input) -> (Vec<u64>, Vec<(u64, bool)>, bool) {
    m.step(input);
    let (mut staged, mut answers, mut install) = (Vec::new(), Vec::new(), false);
    for out in m.take_outputs() {
        match out {
            Output::StageSnapshot { offset, .. } => staged.push(offset),
            Output::InstallSnapshot { .. } => install = true,
            Output::Send(_, Message::SnapshotResp { next, done, .. }) => answers.push((next, done)),
            _ => {}
        }
    }
    (staged, answers, install)
}

#[test]
fn a_member_stages_in_order_and_installs_once_verified() {
    let mut m = member();
    // A chunk that does not start a stream is refused: the leader is asked for offset 0.
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 4, b"late", 12)),
        (vec![], vec![(0, false)], false)
    );
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 0, b"abcd", 12)),
        (vec![0], vec![(4, false)], false)
    );
    // Lost, duplicated or reordered chunks do not fit: the answer says what is wanted.
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 8, b"ijkl", 12)),
        (vec![], vec![(4, false)], false)
    );
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 0, b"abcd", 12)),
        (vec![], vec![(4, false)], false)
    );
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 4, b"efgh", 12)),
        (vec![4], vec![(8, false)], false)
    );
    // The last chunk: install, and answer only once the driver says it is durable.
    assert_eq!(
        stage_and_answer(&mut m, chunk(1, 8, b"ijkl", 12)),
        (vec![8], vec![], true)
    );
    // The image failed verification: start over.
    m.step(Input::SnapshotRejected { index: 9 });
    let asked: Vec<_> = m
        .take_outputs()
        .into_iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send(
                    _,
                    Message::SnapshotResp {
                        next: 0,
                        done: false,
                        ..
                    }
                )
            )
        })
        .collect();
    assert_eq!(asked.len(), 1);
    stage_and_answer(&mut m, chunk(1, 0, b"abcd", 12));
    stage_and_answer(&mut m, chunk(1, 4, b"efgh", 12));
    assert!(stage_and_answer(&mut m, chunk(1, 8, b"ijkl", 12)).2);
    let mut meta = rig_raft_lite::core::SnapshotMeta {
        index: 9,
        term: 1,
        ..Default::default()
    };
    meta.membership.index = 7;
    meta.membership.current = rig_raft_lite::core::Membership::of_voters([1, 2, 3]);
    let img = SnapshotImage {
        meta,
        bytes: Bytes::from_static(b"abcdefghijkl"),
    };
    let (_, answers, _) = stage_and_answer(&mut m, Input::SnapshotInstalled(img));
    assert_eq!(answers, vec![(12, true)]);
    assert_eq!(
        (m.compacted(), m.applied(), m.commit(), m.last_index()),
        (9, 9, 9, 9)
    );
    assert_eq!(m.snapshot_meta().map(|s| s.index), Some(9));
    assert!(m.membership().is_voter(3), "the snapshot's membership");
    assert_eq!(m.snapshots_installed(), 1);
}

#[test]
fn a_new_leader_term_restarts_the_staging() {
    let mut m = member();
    stage_and_answer(&mut m, chunk(1, 0, b"abcd", 12));
    // Term 2's leader streams the same snapshot: staging starts over from its offset 0.
    assert_eq!(
        stage_and_answer(&mut m, chunk(2, 4, b"efgh", 12)),
        (vec![], vec![(0, false)], false)
    );
    assert_eq!(
        stage_and_answer(&mut m, chunk(2, 0, b"abcd", 12)),
        (vec![0], vec![(4, false)], false)
    );
}

#[test]
fn a_stream_given_up_after_retries_starts_over_and_resumes_from_the_member() {
    let mut leader = compacted_leader(5, 70);
    let index = leader.compacted();
    start_stream(&mut leader);
    let t = leader.term();
    step(&mut leader, resp(t, index, 16, false));
    // Silence: three resends from the confirmed offset 16, then a fresh stream from 0.
    let mut sent = Vec::new();
    for _ in 0..24 {
        sent.extend(step(&mut leader, Input::Tick));
    }
    let offsets: Vec<u64> = chunks(&sent).iter().map(|c| c.1).collect();
    assert_eq!(offsets, vec![16, 32, 16, 32, 16, 32, 0, 16]);
    // The member still holds 48 staged bytes of the same stream: the leader goes on from there.
    let sent = step(&mut leader, resp(t, index, 48, false));
    assert_eq!(chunks(&sent), vec![(index, 48, 16), (index, 64, 6)]);
}

#[test]
fn retention_keeps_entries_for_a_member_just_behind() {
    let mut leader = compacted_leader_retaining(6, 40, 2);
    let applied = leader.applied();
    assert_eq!(leader.snapshot_meta().map(|m| m.index), Some(applied));
    // A member whose log ends one entry behind is sent entries, not the snapshot.
    let add = Change::AddObserver {
        id: 2,
        addr: String::new(),
    };
    step(&mut leader, Input::ChangeMembership(add));
    let term = leader.term();
    let mut appended = false;
    for _ in 0..10 {
        let mut sent = step(&mut leader, Input::Tick);
        sent.extend(step(
            &mut leader,
            Input::Message(2, Message::HeartbeatResp { term, seq: 0 }),
        ));
        let probe = sent.iter().find_map(|(to, m)| match m {
            Message::Append { prev_index, .. } if *to == 2 => Some(*prev_index),
            _ => None,
        });
        if let Some(prev_index) = probe {
            // The member's log matches through the probe (it lags by a retained entry or two).
            assert!(
                prev_index >= applied - 2,
                "probed within the retained entries"
            );
            let ack = Message::AppendResp {
                term,
                index: prev_index,
                persisted: prev_index,
                reject: None,
                received: 0,
            };
            let sent = step(&mut leader, Input::Message(2, ack));
            assert!(chunks(&sent).is_empty(), "{sent:?}");
            appended = sent.iter().any(|(_, m)| {
                matches!(m, Message::Append { prev_index: p, bytes, .. }
                    if *p == prev_index && !bytes.is_empty())
            });
            break;
        }
    }
    assert!(appended, "the member just behind got entries from the log");
}
