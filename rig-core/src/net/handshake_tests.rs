use super::*;
use crate::seams::{SeededRand, TcpTransport, Transport};
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

fn cfg(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("g", [1, 2], node, b"key".to_vec())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs both sides over an in-memory pipe.
async fn pair(
    a: HandshakeConfig,
    b: HandshakeConfig,
) -> (
    Result<(PeerInfo, Link), NetError>,
    Result<(PeerInfo, Link), NetError>,
) {
    let (x, y) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move { accept(Box::new(y), &b, &SeededRand::new(2)).await });
    let client = connect(Box::new(x), &a, &SeededRand::new(1)).await;
    (client, server.await.unwrap())
}

#[test]
fn matching_peers_authenticate_and_exchange_frames() {
    block_on(async {
        let (c, s) = pair(cfg("a"), cfg("b")).await;
        let (pc, mut lc) = c.unwrap();
        let (ps, mut ls) = s.unwrap();
        assert_eq!((pc.node_id.as_str(), ps.node_id.as_str()), ("b", "a"));
        lc.send(b"ping").await.unwrap();
        assert_eq!(&ls.recv().await.unwrap()[..], b"ping");
    });
}

#[test]
fn a_rotated_token_still_matches() {
    block_on(async {
        let mut b = cfg("b");
        b.tokens = [2, 3];
        let (c, s) = pair(cfg("a"), b).await;
        assert!(c.is_ok() && s.is_ok());
    });
}

#[test]
fn wrong_group_token_or_key_is_refused() {
    block_on(async {
        let mut b = cfg("b");
        b.group_id = "other".into();
        let (c, s) = pair(cfg("a"), b).await;
        assert_eq!(s.unwrap_err(), NetError::WrongGroup("g".into()));
        assert_eq!(c.unwrap_err(), NetError::WrongGroup("other".into()));

        // Both sides learn why: the connector gets a clear error, not a closed connection.
        let mut b = cfg("b");
        b.tokens = [8, 9];
        let (c, s) = pair(cfg("a"), b).await;
        assert_eq!(s.unwrap_err(), NetError::WrongToken);
        assert_eq!(c.unwrap_err(), NetError::WrongToken);

        let mut b = cfg("b");
        b.psk = b"other key".to_vec();
        let (c, s) = pair(cfg("a"), b).await;
        assert_eq!(s.unwrap_err(), NetError::AuthFailed("a".into()));
        assert_eq!(c.unwrap_err(), NetError::AuthFailed("b".into()));

        // A peer with no key at all.
        let mut a = cfg("a");
        a.psk = Vec::new();
        let (c, s) = pair(a, cfg("b")).await;
        assert!(matches!(s.unwrap_err(), NetError::AuthFailed(_)));
        assert!(c.is_err());
    });
}

#[test]
fn garbage_and_truncated_hellos_are_refused() {
    block_on(async {
        // Random bytes that happen to frame correctly but are not a Hello.
        let (mut x, y) = tokio::io::duplex(1 << 16);
        let server =
            tokio::spawn(async move { accept(Box::new(y), &cfg("b"), &SeededRand::new(2)).await });
        x.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        x.shutdown().await.unwrap();
        assert!(server.await.unwrap().is_err());

        // A Hello frame cut short.
        let (mut x, y) = tokio::io::duplex(1 << 16);
        let server =
            tokio::spawn(async move { accept(Box::new(y), &cfg("b"), &SeededRand::new(2)).await });
        let hello = encode_hello(&cfg("a"), &[0; 32]);
        let mut framed = BytesMut::new();
        super::super::frame::encode_frame(&hello, MAX_HELLO, &mut framed).unwrap();
        x.write_all(&framed[..framed.len() - 3]).await.unwrap();
        x.shutdown().await.unwrap();
        assert!(matches!(server.await.unwrap(), Err(NetError::Truncated(_))));

        // A wrong magic inside a well-formed frame.
        let mut bad = hello.clone();
        bad[0] = b'X';
        assert_eq!(decode_hello(&bad), Err(NetError::BadMagic));
        let mut bad = hello;
        bad[4] = 9;
        assert_eq!(decode_hello(&bad), Err(NetError::BadVersion(9)));
    });
}

#[test]
fn a_silent_peer_times_out() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let (_x, y) = tokio::io::duplex(64);
            let r = accept(Box::new(y), &cfg("b"), &SeededRand::new(2)).await;
            assert_eq!(r.unwrap_err(), NetError::Timeout("handshake"));
        });
}

#[test]
fn round_trip_over_tcp() {
    block_on(async {
        let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (_, mut link) = accept(conn, &cfg("b"), &SeededRand::new(2)).await.unwrap();
            let got = link.recv().await.unwrap();
            link.send(&got).await.unwrap();
        });
        let conn = TcpTransport.connect(&addr).await.unwrap();
        let (_, mut link) = connect(conn, &cfg("a"), &SeededRand::new(1)).await.unwrap();
        link.send(&[7; 100_000]).await.unwrap();
        assert_eq!(link.recv().await.unwrap().len(), 100_000);
        server.await.unwrap();
    });
}

proptest! {
    #[test]
    fn random_hello_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_hello(&bytes);
    }

    #[test]
    fn mutated_hellos_never_panic(i in 0usize..100, b in any::<u8>()) {
        let mut hello = encode_hello(&cfg("a"), &[5; 32]);
        let i = i % hello.len();
        hello[i] = b;
        let _ = decode_hello(&hello);
    }
}
