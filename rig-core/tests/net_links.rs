//! Links and peers carry frames in order and in full: a frame sent right behind the handshake,
//! a burst of queued frames (sent together), and frames racing in both directions.

use std::sync::Arc;

use bytes::Bytes;
use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::net::peer::{Peer, PeerEvent, PeerOptions};
use rig_core::net::NetError;
use rig_core::seams::{SeededRand, TcpTransport, TokioClock, Transport};

fn cfg(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("g", [1, 2], node, b"key".to_vec())
}

#[tokio::test]
async fn a_frame_sent_right_behind_the_handshake_reaches_the_initiator() {
    let (x, y) = tokio::io::duplex(1 << 16);
    let (a_cfg, b_cfg) = (cfg("a"), cfg("b"));
    // On one thread, the acceptor finishes, sends its first frame and hangs up before the
    // initiator reads the acceptor's proof, so proof and frame arrive in the initiator's one
    // read.
    let acceptor = async {
        let (_, mut link) = accept(Box::new(y), &b_cfg, &SeededRand::new(2))
            .await
            .unwrap();
        link.send(b"early").await.unwrap();
    };
    let a_rand = SeededRand::new(1);
    let initiator = connect(Box::new(x), &a_cfg, &a_rand);
    let ((), a) = tokio::join!(acceptor, initiator);
    let (info, mut a) = a.unwrap();
    assert_eq!(info.node_id, "b");
    assert_eq!(a.recv().await.as_deref(), Ok(&b"early"[..]));
    assert_eq!(a.recv().await, Err(NetError::Closed));
}

/// A peer of node "a" connected to a listener of node "b", and b's end of the link.
async fn connected_peer(
    opts: PeerOptions,
) -> (
    Peer,
    tokio::sync::mpsc::Receiver<PeerEvent>,
    rig_core::net::Link,
) {
    let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (peer, mut events) = Peer::spawn(
        Arc::new(TcpTransport),
        addr,
        cfg("a"),
        Arc::new(TokioClock),
        Arc::new(SeededRand::new(3)),
        opts,
    );
    let (conn, _) = listener.accept().await.unwrap();
    let (_, link) = accept(conn, &cfg("b"), &SeededRand::new(4)).await.unwrap();
    assert_eq!(
        events.recv().await,
        Some(PeerEvent::Connected {
            node_id: "b".into()
        })
    );
    (peer, events, link)
}

#[tokio::test]
async fn a_burst_of_queued_frames_arrives_whole_and_in_order() {
    let (peer, _events, mut link) = connected_peer(PeerOptions::default()).await;
    // Sizes vary so frames straddle the writes and the reader's read-ahead.
    let frames: Vec<Bytes> = (0..600u32)
        .map(|i| {
            let len = (i as usize * 37) % 3000;
            Bytes::from(vec![(i % 251) as u8; len])
        })
        .collect();
    for f in &frames {
        peer.send(f.clone()).await.unwrap();
    }
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(link.recv().await.unwrap(), *f, "frame {i}");
    }
}

#[tokio::test]
async fn frames_cross_both_ways_while_the_peer_is_sending() {
    let (peer, mut events, link) = connected_peer(PeerOptions::default()).await;
    let (mut reader, mut writer) = link.split();
    const N: u32 = 2000;
    // b answers every frame it gets; a keeps sending while the answers come back, so the peer's
    // reads are interrupted by its sends again and again.
    let echo = tokio::spawn(async move {
        for _ in 0..N {
            let f = reader.recv().await.unwrap();
            writer.send(&f).await.unwrap();
        }
    });
    let sending = async {
        for i in 0..N {
            peer.send(Bytes::from(i.to_le_bytes().repeat(1 + (i as usize % 50))))
                .await
                .unwrap();
        }
    };
    let receiving = async {
        for i in 0..N {
            match events.recv().await {
                Some(PeerEvent::Frame(f)) => {
                    assert_eq!(
                        f,
                        Bytes::from(i.to_le_bytes().repeat(1 + (i as usize % 50)))
                    )
                }
                other => panic!("frame {i}: {other:?}"),
            }
        }
    };
    tokio::join!(sending, receiving);
    echo.await.unwrap();
}

#[tokio::test]
async fn a_frame_over_the_limit_breaks_the_link_and_the_peer_reconnects() {
    let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut small = cfg("a");
    small.max_frame = 100;
    let (peer, mut events) = Peer::spawn(
        Arc::new(TcpTransport),
        addr,
        small,
        Arc::new(TokioClock),
        Arc::new(SeededRand::new(5)),
        PeerOptions::default(),
    );
    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(6)).await.unwrap();
    assert!(matches!(
        events.recv().await,
        Some(PeerEvent::Connected { .. })
    ));
    peer.send(Bytes::from_static(b"fits")).await.unwrap();
    assert_eq!(&link.recv().await.unwrap()[..], b"fits");
    peer.send(Bytes::from(vec![0; 101])).await.unwrap();
    assert_eq!(
        events.recv().await,
        Some(PeerEvent::Disconnected {
            reason: NetError::FrameTooLarge { len: 101, max: 100 }
        })
    );
    assert_eq!(link.recv().await, Err(NetError::Closed));
    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(7)).await.unwrap();
    assert!(matches!(
        events.recv().await,
        Some(PeerEvent::Connected { .. })
    ));
    peer.send(Bytes::from_static(b"again")).await.unwrap();
    assert_eq!(&link.recv().await.unwrap()[..], b"again");
}
