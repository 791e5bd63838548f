//! The wire codec round-trips every message kind, and arbitrary or truncated bytes decode to an
//! error, never a panic or a different message.

use bytes::Bytes;
use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::{Entry, Message};
use rig_raft_lite::wire::{decode, encode};

fn samples() -> Vec<Message> {
    let entries = vec![
        Entry {
            term: 2,
            index: 5,
            data: Bytes::new(),
        },
        Entry {
            term: 3,
            index: 6,
            data: Bytes::from_static(b"payload"),
        },
    ];
    vec![
        Message::PreVote {
            term: 4,
            last_index: 9,
            last_term: 3,
        },
        Message::PreVoteResp {
            term: 4,
            granted: true,
        },
        Message::Vote {
            term: 4,
            last_index: 9,
            last_term: 3,
            force: false,
        },
        Message::VoteResp {
            term: 4,
            granted: false,
        },
        Message::Append {
            term: 3,
            prev_index: 4,
            prev_term: 2,
            entries,
            commit: 4,
            durable: 3,
        },
        Message::AppendResp {
            term: 3,
            index: 6,
            persisted: 5,
            reject: None,
        },
        Message::AppendResp {
            term: 3,
            index: 6,
            persisted: 0,
            reject: Some(2),
        },
        Message::Heartbeat {
            term: 3,
            commit: 6,
            durable: 5,
            floor: 1,
            seq: 8,
        },
        Message::HeartbeatResp { term: 3, seq: 8 },
        Message::TimeoutNow { term: 3 },
        Message::Snapshot {
            term: 3,
            index: 40,
            snap_term: 2,
            offset: 16,
            total: 70,
            data: Bytes::from_static(b"sixteen bytes..."),
        },
        Message::SnapshotResp {
            term: 3,
            index: 40,
            next: 32,
            done: false,
        },
        Message::SnapshotResp {
            term: 3,
            index: 40,
            next: 70,
            done: true,
        },
    ]
}

#[test]
fn every_kind_round_trips() {
    for m in samples() {
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }
}

#[test]
fn damaged_bytes_are_errors() {
    let rand = SeededRand::new(5);
    for m in samples() {
        let bytes = encode(&m);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "{m:?} truncated at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_err(), "trailing bytes");
    }
    for _ in 0..2000 {
        let len = rand.below(64) as usize;
        let junk: Vec<u8> = (0..len).map(|_| rand.below(256) as u8).collect();
        let _ = decode(&junk); // must not panic
    }
}
