//! Bad input on a replica's port: a wrong group token, no credentials, random bytes, a truncated
//! frame, a malformed message. Each is refused (and logged) and nothing is applied; the replica
//! keeps serving its real primary afterwards.

mod support;

use bytes::BytesMut;
use rig_core::net::frame::{encode_frame, DEFAULT_MAX_FRAME};
use rig_core::net::handshake::connect;
use rig_core::net::NetError;
use rig_core::seams::{SeededRand, TcpTransport, Transport};
use rig_core::Log;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads until the peer closes; returns what it sent (nothing but, at most, its Hello).
async fn drain(conn: &mut Box<dyn rig_core::seams::Connection>) -> usize {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while let Ok(k) = conn.read(&mut buf).await {
        if k == 0 {
            break;
        }
        n += k;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_are_refused_and_nothing_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let (pd, rd) = dirs(root.path(), 0);
    let replica = open_replica(&rd).await.unwrap();
    let addr = replica.local_addr().to_string();
    let rand = SeededRand::new(9);

    // Wrong group token.
    let mut cfg = handshake("intruder");
    cfg.tokens = [99, 98];
    let conn = TcpTransport.connect(&addr).await.unwrap();
    let err = connect(conn, &cfg, &rand).await.unwrap_err();
    // The replica greets first and then refuses: the connector learns why.
    assert!(matches!(err, NetError::WrongToken), "{err:?}");

    // Right group, no key.
    let mut cfg = handshake("intruder");
    cfg.psk = Vec::new();
    let conn = TcpTransport.connect(&addr).await.unwrap();
    let err = connect(conn, &cfg, &rand).await.unwrap_err();
    assert!(matches!(err, NetError::AuthFailed(_)), "{err:?}");

    // Random bytes, including a huge length field.
    let mut conn = TcpTransport.connect(&addr).await.unwrap();
    conn.write_all(&[0xff; 64]).await.unwrap();
    assert_eq!(drain(&mut conn).await, 0, "random bytes get no answer");

    // A truncated frame after a valid handshake.
    let conn = TcpTransport.connect(&addr).await.unwrap();
    let (_, link) = connect(conn, &handshake("tester"), &rand).await.unwrap();
    let mut conn = link.into_inner();
    let mut frame = BytesMut::new();
    encode_frame(&[2, 1, 0, 1, 1, 9, 9, 9], DEFAULT_MAX_FRAME, &mut frame).unwrap();
    conn.write_all(&frame[..frame.len() - 3]).await.unwrap();
    conn.shutdown().await.unwrap();
    assert_eq!(drain(&mut conn).await, 0);

    // A well-framed but malformed message after a valid handshake: the link is dropped.
    let conn = TcpTransport.connect(&addr).await.unwrap();
    let (_, mut link) = connect(conn, &handshake("tester"), &rand).await.unwrap();
    link.send(&[200, 1, 2, 3]).await.unwrap();
    assert!(link.recv().await.is_err());

    assert_eq!((replica.committed(), replica.status().epoch), (0, 0));

    // The real primary is served as before.
    let primary = open_primary(&pd, &addr, strict()).await.unwrap();
    append_each(&primary, ops("ok", 0..2)).await.unwrap();
    assert_eq!(committed_data(&replica, 2).await, ["ok-0", "ok-1"]);
}
