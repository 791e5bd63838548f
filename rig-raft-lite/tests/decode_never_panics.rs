//! The Raft wire codec and on-disk records as properties: any message the decoder accepts
//! re-encodes to bytes that decode to the same message (a round trip over messages drawn from the
//! whole input space, every kind, any field values, any entries), records round-trip, and random
//! or damaged bytes are errors, never panics. The generators are seeded, so a failure replays.
//! (`wire_codec.rs` round-trips one sample of every kind; the `raft_wire` and `raft_storage` fuzz
//! targets run the same checks under libFuzzer.)
//!
//! The record codec is private to the crate: this test compiles `src/storage/records.rs` itself
//! (`core` below gives it the `crate::core` path it expects).

#[path = "../src/storage/records.rs"]
#[allow(dead_code, unreachable_pub)]
mod records;
#[path = "../src/core/stream.rs"]
#[allow(dead_code, unreachable_pub)]
mod stream;
mod core {
    pub(crate) use super::stream;
    pub(crate) use rig_raft_lite::core::{Entry, HardState};
}

use bytes::{Bytes, BytesMut};
use rig_core::seams::{Rand, SeededRand};
use rig_core::Snapshot;
use rig_raft_lite::core::{Entry, HardState, Membership, SnapshotMeta, StoredMembership};
use rig_raft_lite::storage::{decode_snapshot_image, encode_snapshot_image};
use rig_raft_lite::wire::{decode, encode, WIRE_FORMAT};

fn word(rand: &SeededRand) -> u64 {
    // Small values, booleans and extremes as often as anything else.
    match rand.below(4) {
        0 => rand.below(3),
        1 => u64::MAX - rand.below(2),
        _ => rand.next_u64(),
    }
}

/// Message-shaped byte strings of a random kind: the format byte, the kind and every count of
/// fixed-width fields from none to eight (so exactly one fits whatever the kind's layout is), and
/// for an Append (kind 4) and a FetchResp (kind 12) also their fields and a length-prefixed
/// byte range (random bytes, or random entries' frames).
fn structured(rand: &SeededRand) -> Vec<Vec<u8>> {
    let kind = rand.below(15) as u8;
    let words: Vec<u64> = (0..8).map(|_| word(rand)).collect();
    let mut out: Vec<Vec<u8>> = (0..=words.len())
        .map(|k| {
            let mut b = vec![WIRE_FORMAT, kind];
            words[..k]
                .iter()
                .for_each(|w| b.extend_from_slice(&w.to_le_bytes()));
            b
        })
        .collect();
    let mut range = BytesMut::new();
    if rand.below(2) == 0 {
        range.extend((0..rand.below(40)).map(|_| rand.next_u64() as u8));
    } else {
        for _ in 0..rand.below(4) {
            let data: Vec<u8> = (0..rand.below(20)).map(|_| rand.next_u64() as u8).collect();
            let e = Entry {
                term: word(rand),
                index: word(rand),
                data: data.into(),
            };
            core::stream::encode_frame(&e, word(rand), &mut range);
        }
    }
    for (kind, fields) in [(4u8, 10usize), (12, 4)] {
        let mut b = vec![WIRE_FORMAT, kind];
        (0..fields).for_each(|_| b.extend_from_slice(&word(rand).to_le_bytes()));
        b.extend_from_slice(&(range.len() as u32).to_le_bytes());
        b.extend_from_slice(&range);
        out.push(b);
    }
    out
}

fn check(buf: &[u8]) -> bool {
    match decode(buf) {
        Ok(m) => {
            assert_eq!(decode(&encode(&m)).expect("re-encoded message"), m);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn every_decodable_message_round_trips() {
    let rand = SeededRand::new(21);
    let mut decoded = 0;
    for _ in 0..5_000 {
        decoded += structured(&rand).iter().filter(|b| check(b)).count();
    }
    // The generator must reach the decoder's success path, or the property says nothing.
    assert!(decoded > 2_500, "only {decoded} messages decoded");
}

#[test]
fn random_and_damaged_bytes_never_panic() {
    let rand = SeededRand::new(22);
    for _ in 0..20_000 {
        let junk: Vec<u8> = (0..rand.below(120))
            .map(|_| rand.next_u64() as u8)
            .collect();
        check(&junk);
        let mut all = structured(&rand);
        let i = rand.below(all.len() as u64) as usize;
        let b = &mut all[i];
        let at = rand.below(b.len() as u64) as usize;
        b[at] = rand.next_u64() as u8;
        check(b);
        check(&b[..at]);
    }
}

#[test]
fn records_round_trip() {
    let rand = SeededRand::new(23);
    for _ in 0..2_000 {
        let hs = HardState {
            term: word(&rand),
            vote: (rand.below(2) == 0).then(|| word(&rand)),
        };
        assert_eq!(
            records::decode_hard_state(&records::encode_hard_state(hs)).unwrap(),
            hs
        );
        let (offset, term, base) = (rand.below(1 << 40), rand.below(1 << 20), word(&rand));
        let header = records::encode_log_header(offset, term, base);
        assert_eq!(
            records::decode_log_header(&header).unwrap(),
            (offset, term, base)
        );
        let (mut buf, mut prev) = (BytesMut::new(), term);
        let entries: Vec<Entry> = (1..=rand.below(6))
            .map(|i| Entry {
                term: term + i / 2,
                index: offset + i,
                data: Bytes::from(vec![rand.below(256) as u8; rand.below(30) as usize]),
            })
            .collect();
        for e in &entries {
            records::encode_entry(e, prev, &mut buf);
            prev = e.term;
        }
        let (back, ends) = records::decode_entries(&buf, 0, offset, term);
        assert_eq!(back, entries);
        assert_eq!(ends.last().copied().unwrap_or(0), buf.len() as u64);
        let snap = Snapshot {
            version: word(&rand),
            data: Bytes::from(vec![7u8; rand.below(40) as usize]),
        };
        assert_eq!(
            records::decode_snapshot(&records::encode_snapshot(&snap)).unwrap(),
            snap
        );
    }
}

#[test]
fn random_record_bytes_never_panic() {
    let rand = SeededRand::new(24);
    for _ in 0..20_000 {
        let junk: Vec<u8> = (0..rand.below(120))
            .map(|_| rand.next_u64() as u8)
            .collect();
        let _ = records::decode_hard_state(&junk);
        let _ = records::decode_log_header(&junk);
        let _ = records::decode_snapshot(&junk);
        let _ = records::decode_entries(&junk, 0, word(&rand), word(&rand));
        let _ = decode_snapshot_image(&junk);
    }
}

/// Snapshot images (`raft.snap`, and the stream a member installs): every damaged byte, cut or
/// extension of a good image is an error, and what decodes re-encodes to the same image.
#[test]
fn snapshot_images_verify() {
    let rand = SeededRand::new(25);
    for _ in 0..200 {
        let mut membership = StoredMembership {
            index: rand.below(50),
            ..StoredMembership::default()
        };
        membership.current = Membership::of_voters(1..=1 + rand.below(5));
        let meta = SnapshotMeta {
            index: word(&rand),
            term: word(&rand),
            membership,
        };
        let data: Vec<u8> = (0..rand.below(100))
            .map(|_| rand.next_u64() as u8)
            .collect();
        let snap = Snapshot {
            version: word(&rand),
            data: data.into(),
        };
        let image = encode_snapshot_image(&meta, &snap);
        assert_eq!(decode_snapshot_image(&image).unwrap(), (meta, snap));
        let mut damaged = image.to_vec();
        let at = rand.below(damaged.len() as u64) as usize;
        damaged[at] ^= 1 << rand.below(8);
        assert!(
            decode_snapshot_image(&damaged).is_err(),
            "flipped a bit at {at}"
        );
        let cut = rand.below(image.len() as u64) as usize;
        assert!(
            decode_snapshot_image(&image[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

/// Found by the `raft_storage` fuzz target: a snapshot length near `u64::MAX` overflowed the end
/// offset, and a log header at index `u64::MAX` overflowed the next expected index.
#[test]
fn huge_lengths_and_indexes_are_corrupt_not_overflows() {
    let mut snap = vec![records::FORMAT];
    snap.extend_from_slice(&5u64.to_le_bytes());
    snap.extend_from_slice(&(u64::MAX - 3).to_le_bytes());
    snap.extend_from_slice(&[0; 8]);
    assert!(records::decode_snapshot(&snap).is_err());
    let mut buf = BytesMut::new();
    let e = Entry {
        term: 1,
        index: 0,
        data: Bytes::new(),
    };
    records::encode_entry(&e, 1, &mut buf);
    assert_eq!(records::decode_entries(&buf, 0, u64::MAX, 1).0, vec![]);
}
