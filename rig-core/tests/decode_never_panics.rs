//! The link handshake and frames from the outside, through the public API: any group, node ids,
//! tokens and key round-trip (both sides authenticate and learn each other's id), and any bytes a
//! peer sends, framed or raw, end in an error on either side: never a panic, never a session.
//!
//! (The record codec, frames and the snapshot envelope have their round-trip and random-bytes
//! property tests next to their code.)

use bytes::BytesMut;
use proptest::prelude::*;
use rig_core::net::frame::encode_frame;
use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::seams::SeededRand;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

/// A connection whose peer sends `incoming` then closes, and which swallows what we send.
fn scripted(incoming: Vec<u8>) -> Box<dyn rig_core::seams::Connection> {
    Box::new(tokio::io::join(
        std::io::Cursor::new(incoming),
        tokio::io::sink(),
    ))
}

fn cfg(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("g", [1, 2], node, b"key".to_vec())
}

proptest! {
    #[test]
    fn any_matching_configuration_authenticates(
        group in ".{0,40}",
        a in ".{0,40}",
        b in ".{0,40}",
        token in any::<u64>(),
        other in any::<u64>(),
        psk in proptest::collection::vec(any::<u8>(), 0..80),
        seeds in (any::<u64>(), any::<u64>()),
    ) {
        let ca = HandshakeConfig::new(group.clone(), [token, other], a.clone(), psk.clone());
        let cb = HandshakeConfig::new(group, [other.wrapping_add(1), token], b.clone(), psk);
        let (x, y) = tokio::io::duplex(1 << 16);
        let (client, server) = block_on(async move {
            let server = tokio::spawn(async move {
                accept(Box::new(y), &cb, &SeededRand::new(seeds.1)).await.map(|(p, _)| p)
            });
            let client = connect(Box::new(x), &ca, &SeededRand::new(seeds.0)).await.map(|(p, _)| p);
            (client, server.await.unwrap())
        });
        prop_assert_eq!(client.unwrap().node_id, b);
        prop_assert_eq!(server.unwrap().node_id, a);
    }

    #[test]
    fn random_streams_never_panic_or_authenticate(
        raw in proptest::collection::vec(any::<u8>(), 0..300),
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..4),
    ) {
        let mut framed = BytesMut::new();
        for f in &frames {
            encode_frame(f, 1 << 16, &mut framed).unwrap();
        }
        for incoming in [raw, framed.to_vec()] {
            let (a, c) = block_on(async {
                let a = accept(scripted(incoming.clone()), &cfg("me"), &SeededRand::new(1)).await;
                let c = connect(scripted(incoming.clone()), &cfg("me"), &SeededRand::new(1)).await;
                (a.is_ok(), c.is_ok())
            });
            prop_assert!(!a && !c, "a peer without the key authenticated");
        }
    }
}
