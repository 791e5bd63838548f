//! rig-core's replication transport over rig-testkit's SimNet: the handshake, and a peer link
//! that reconnects after its connection is reset and queues with backpressure.

use std::sync::Arc;
use std::time::Duration;

use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
use rig_core::net::NetError;
use rig_core::seams::{SeededRand, TokioClock, Transport};
use rig_testkit::simnet::{LinkConfig, SimNet};

fn cfg(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("g", [1, 2], node, b"k".to_vec())
}

#[tokio::test(start_paused = true)]
async fn handshake_and_frames_over_simnet() {
    let (net, _ctl) = SimNet::new(SeededRand::new(3));
    let mut listener = net.node("b").listen("b:1").await.unwrap();
    let server = tokio::spawn(async move {
        let mut refused = 0;
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            match accept(conn, &cfg("b"), &SeededRand::new(2)).await {
                Ok((_, mut link)) => {
                    let f = link.recv().await.unwrap();
                    link.send(&f).await.unwrap();
                    return refused;
                }
                Err(_) => refused += 1,
            }
        }
    });
    let mut bad = cfg("a");
    bad.group_id = "other".into();
    let conn = net.node("a").connect("b:1").await.unwrap();
    assert!(connect(conn, &bad, &SeededRand::new(1)).await.is_err());
    let conn = net.node("a").connect("b:1").await.unwrap();
    let (peer, mut link) = connect(conn, &cfg("a"), &SeededRand::new(1)).await.unwrap();
    assert_eq!(peer.node_id, "b");
    link.send(b"echo").await.unwrap();
    assert_eq!(&link.recv().await.unwrap()[..], b"echo");
    assert_eq!(server.await.unwrap(), 1, "the wrong group was refused");
}

#[tokio::test(start_paused = true)]
async fn a_peer_reconnects_after_resets_and_applies_backpressure() {
    let (net, ctl) = SimNet::new(SeededRand::new(4));
    let mut listener = net.node("b").listen("b:1").await.unwrap();
    let opts = PeerOptions {
        queue: 2,
        ..PeerOptions::default()
    };
    let (peer, mut events) = Peer::spawn(
        Arc::new(net.node("a")),
        "b:1".into(),
        cfg("a"),
        Arc::new(TokioClock),
        Arc::new(SeededRand::new(5)),
        opts,
    );
    // Nobody accepts yet: the queue fills, then refuses.
    assert!(peer.try_send("1".into()));
    assert!(peer.try_send("2".into()));
    assert!(!peer.try_send("3".into()), "a full queue pushes back");

    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(6)).await.unwrap();
    assert_eq!(
        events.recv().await,
        Some(PeerEvent::Connected {
            node_id: "b".into()
        })
    );
    assert_eq!(&link.recv().await.unwrap()[..], b"1");
    assert_eq!(&link.recv().await.unwrap()[..], b"2");

    // Every write now resets the connection: the peer reports it and dials again.
    ctl.set_default_link(LinkConfig {
        reset_per_mille: 1000,
        ..LinkConfig::default()
    });
    peer.send("lost".into()).await.unwrap();
    loop {
        match events.recv().await.unwrap() {
            PeerEvent::Disconnected { reason } => {
                assert!(matches!(
                    reason,
                    NetError::Io(_) | NetError::Closed | NetError::Truncated(_)
                ));
                break;
            }
            PeerEvent::Frame(_) => {}
            other => panic!("{other:?}"),
        }
    }
    ctl.set_default_link(LinkConfig::default());
    let (conn, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
        .await
        .expect("the peer dials again")
        .unwrap();
    let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(7)).await.unwrap();
    loop {
        if let PeerEvent::Connected { .. } = events.recv().await.unwrap() {
            break;
        }
    }
    peer.send("after".into()).await.unwrap();
    assert_eq!(&link.recv().await.unwrap()[..], b"after");
}
