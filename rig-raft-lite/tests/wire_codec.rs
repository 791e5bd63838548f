//! The wire codec round-trips every message kind, and arbitrary or truncated bytes decode to an
//! error, never a panic or a different message.

use bytes::Bytes;
use rig_core::seams::{Rand, SeededRand};
use rig_raft_lite::core::stream::encode_frame;
use rig_raft_lite::core::{Entry, Message};
use rig_raft_lite::wire::{decode, encode, WIRE_FORMAT};

fn samples() -> Vec<Message> {
    let mut frames = bytes::BytesMut::new();
    let e5 = Entry {
        term: 2,
        index: 5,
        data: Bytes::new(),
    };
    let e6 = Entry {
        term: 3,
        index: 6,
        data: Bytes::from_static(b"payload"),
    };
    encode_frame(&e5, 2, &mut frames);
    encode_frame(&e6, 2, &mut frames);
    let frames = frames.freeze();
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
            base: 100,
            start: 100,
            cont: None,
            bytes: frames.clone(),
            commit: 4,
            durable: 3,
        },
        // A range that continues entry 5's frame (10 of its bytes went earlier) and ends inside
        // entry 6's.
        Message::Append {
            term: 3,
            prev_index: 4,
            prev_term: 2,
            base: 100,
            start: 110,
            cont: Some((2, 32)),
            bytes: frames.slice(10..50),
            commit: 4,
            durable: 3,
        },
        Message::AppendResp {
            term: 3,
            index: 6,
            persisted: 5,
            reject: None,
            received: 171,
        },
        Message::AppendResp {
            term: 3,
            index: 6,
            persisted: 0,
            reject: Some(2),
            received: 0,
        },
        Message::Fetch {
            term: 3,
            from: 5,
            to: 6,
        },
        Message::FetchResp {
            term: 3,
            prev_index: 4,
            prev_term: 2,
            bytes: frames,
            lacking: false,
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
fn an_older_format_is_refused() {
    // Version 1 carried entries, not byte ranges: a node of that version is refused, never
    // misread (its frames would parse as garbage).
    for m in samples() {
        let mut bytes = encode(&m).to_vec();
        assert_eq!(bytes[0], WIRE_FORMAT);
        bytes[0] = WIRE_FORMAT - 1;
        assert!(decode(&bytes).is_err(), "{m:?} under format {}", bytes[0]);
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
