//! The 2PC protocol messages as a property: any message the decoder accepts re-encodes to bytes
//! that decode to the same message (messages drawn from the whole input space: every tag, any
//! varints, operations that do and do not decode), and random or damaged bytes are errors, never
//! panics. The generator is seeded, so a failure replays. (`proto.rs` round-trips one sample of
//! every message; the `twopc_proto` fuzz target runs the same checks under libFuzzer.)
//!
//! The messages are private to the crate: this test compiles `src/proto.rs` itself.

#[path = "../src/proto.rs"]
#[allow(dead_code, unreachable_pub)]
mod proto;

use bytes::BytesMut;
use proto::Msg;
use rig_core::codec::{encode_payload, put_varint};
use rig_core::seams::{Rand, SeededRand};
use rig_core::{LogPayload, Operation};

fn varint(rand: &SeededRand, b: &mut BytesMut) {
    let v = match rand.below(4) {
        0 => rand.below(4),
        1 => u64::MAX - rand.below(2),
        _ => rand.below(1 << 20),
    };
    put_varint(b, v);
}

/// A message-shaped byte string: a tag, a few varints, sometimes a short name, and sometimes a
/// run of operations versioned from a first version (mostly consistent, sometimes not).
fn structured(rand: &SeededRand) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.extend_from_slice(&[rand.below(12) as u8]);
    for _ in 0..rand.below(4) {
        varint(rand, &mut b);
    }
    if rand.below(3) == 0 {
        let name: Vec<u8> = (0..rand.below(8))
            .map(|_| b'a' + rand.below(26) as u8)
            .collect();
        put_varint(&mut b, name.len() as u64);
        b.extend_from_slice(&name);
    }
    if rand.below(2) == 0 {
        let first = 1 + rand.below(1000);
        let n = rand.below(4);
        put_varint(&mut b, first);
        put_varint(&mut b, n);
        for i in 0..n {
            let mut one = BytesMut::new();
            let version = if rand.below(8) == 0 { first } else { first + i };
            let op = Operation::new("m", vec![rand.below(256) as u8; rand.below(10) as usize]);
            encode_payload(&LogPayload { version, op }, &mut one);
            put_varint(&mut b, one.len() as u64);
            b.extend_from_slice(&one);
        }
    }
    for _ in 0..rand.below(3) {
        varint(rand, &mut b);
    }
    b.to_vec()
}

fn check(buf: &[u8]) -> bool {
    match Msg::decode(buf) {
        Ok(m) => {
            assert_eq!(Msg::decode(&m.encode()), Ok(m));
            true
        }
        Err(_) => false,
    }
}

#[test]
fn every_decodable_message_round_trips() {
    let rand = SeededRand::new(31);
    let mut decoded = 0;
    for _ in 0..50_000 {
        if check(&structured(&rand)) {
            decoded += 1;
        }
    }
    // The generator must reach the decoder's success path, or the property says nothing.
    assert!(decoded > 1_000, "only {decoded} of 50000 messages decoded");
}

#[test]
fn random_and_damaged_bytes_never_panic() {
    let rand = SeededRand::new(32);
    for _ in 0..20_000 {
        let junk: Vec<u8> = (0..rand.below(120))
            .map(|_| rand.next_u64() as u8)
            .collect();
        check(&junk);
        let mut b = structured(&rand);
        let at = rand.below(b.len() as u64) as usize;
        b[at] = rand.next_u64() as u8;
        check(&b);
        check(&b[..at]);
    }
}
