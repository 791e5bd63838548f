//! A real node against a hand-driven peer speaking the wire protocol: a fake replica answering
//! a real primary late, and a fake primary driving a real replica through a restart window.

use std::time::Duration;

use rig_core::net::handshake::{accept, connect, HandshakeConfig};
use rig_core::net::Link;
use rig_core::seams::{SeededRand, TcpTransport, Transport};
use rig_core::{Durability, Error, Log, Operation};
use rig_log_file::{FileLog, FileLogOptions};

use crate::proto::Msg;
use crate::{Config, Policy, ReplLog, StartAs};

fn hs(node: &str) -> HandshakeConfig {
    HandshakeConfig::new("wire-test", [1, 2], node, b"psk".to_vec())
}

fn file(dir: &std::path::Path, name: &str) -> FileLog {
    FileLog::open(dir.join(name), FileLogOptions::default()).unwrap()
}

async fn send(link: &mut Link, msg: Msg) {
    link.send(&msg.encode()).await.unwrap();
}

async fn recv(link: &mut Link) -> Msg {
    Msg::decode(&link.recv().await.unwrap()).unwrap()
}

/// A link to the node listening at `addr`, as its primary.
async fn dial(addr: &str) -> Link {
    let conn = TcpTransport.connect(addr).await.unwrap();
    connect(conn, &hs("fake-primary"), &SeededRand::new(1))
        .await
        .unwrap()
        .1
}

fn sync(committed: u64, last: u64) -> Msg {
    Msg::Sync {
        epoch: 1,
        primary: "fake-primary".into(),
        committed,
        last,
    }
}

fn op(data: &str) -> Operation {
    Operation::new("put", data.to_string())
}

/// Regression: a `Prepared` from a timed-out, rolled-back Strict round arriving during the next
/// round at the same versions acknowledged that round, which the replica had not prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_prepared_of_a_rolled_back_round_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::new(
        "127.0.0.1:0",
        StartAs::Primary {
            replicas: vec![addr],
        },
        hs("p"),
    );
    config.policy = Policy::Strict {
        timeout: Duration::from_millis(300),
    };
    let primary = ReplLog::open(file(dir.path(), "p"), config).await.unwrap();

    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &hs("fake-replica"), &SeededRand::new(2))
        .await
        .unwrap();
    assert!(matches!(recv(&mut link).await, Msg::Sync { .. }));
    send(
        &mut link,
        Msg::Prepared {
            epoch: 1,
            round: 0,
            last: 0,
        },
    )
    .await;

    // Round 1 (version 1): the replica is slow, the round times out and is rolled back.
    let first = primary.append(vec![op("first")], Durability::Replicated);
    let Msg::Prepare { round: r1, .. } = recv(&mut link).await else {
        panic!("expected a Prepare")
    };
    let err = first.await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert!(matches!(
        recv(&mut link).await,
        Msg::Rollback { from: 1, .. }
    ));

    // Round 2 reuses version 1. The replica's late answer to round 1 arrives now.
    let second = primary.append(vec![op("second")], Durability::Replicated);
    let Msg::Prepare {
        round: r2, first, ..
    } = recv(&mut link).await
    else {
        panic!("expected a Prepare")
    };
    assert_eq!(first, 1);
    assert_ne!(r1, r2);
    send(
        &mut link,
        Msg::Prepared {
            epoch: 1,
            round: r1,
            last: 1,
        },
    )
    .await;
    let outcome = second.await;
    assert!(
        matches!(outcome, Err(Error::OutcomeUnknown { .. })),
        "round 2 was acknowledged by round 1's answer: {outcome:?}"
    );
    assert_eq!(primary.committed(), 0);
    primary.close().await.unwrap();
}

/// Appends queued while the window of rounds is full all join the next round: one Prepare, one
/// replica fsync and one round trip for all of them, in the order they were called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_queued_behind_a_full_window_share_the_next_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut listener = TcpTransport.listen("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::new(
        "127.0.0.1:0",
        StartAs::Primary {
            replicas: vec![addr],
        },
        hs("p"),
    );
    let primary = ReplLog::open(file(dir.path(), "p"), config).await.unwrap();
    let (conn, _) = listener.accept().await.unwrap();
    let (_, mut link) = accept(conn, &hs("fake-replica"), &SeededRand::new(2))
        .await
        .unwrap();
    assert!(matches!(recv(&mut link).await, Msg::Sync { .. }));
    send(
        &mut link,
        Msg::Prepared {
            epoch: 1,
            round: 0,
            last: 0,
        },
    )
    .await;

    // A full window: 8 rounds of one op each, none answered.
    let mut window = Vec::new();
    for v in 1..=8u64 {
        let append = primary.append(vec![op(&format!("w{v}"))], Durability::Replicated);
        let Msg::Prepare { round, first, .. } = recv(&mut link).await else {
            panic!("expected a Prepare")
        };
        assert_eq!(first, v);
        window.push((append, round));
    }
    // 50 more appends queue up (each is numbered and queued when called).
    let queued: Vec<_> = (0..50)
        .map(|i| tokio::spawn(primary.append(vec![op(&format!("q{i}"))], Durability::Replicated)))
        .collect();
    for (v, (_, round)) in (1..).zip(&window) {
        send(
            &mut link,
            Msg::Prepared {
                epoch: 1,
                round: *round,
                last: v,
            },
        )
        .await;
    }
    for (v, (append, _)) in (1..).zip(window) {
        assert_eq!(append.await.unwrap(), v);
    }
    let (round, first, ops) = loop {
        match recv(&mut link).await {
            Msg::Prepare {
                round, first, ops, ..
            } => break (round, first, ops),
            _ => continue, // the Commits of the window
        }
    };
    assert_eq!(
        (first, ops.len()),
        (9, 50),
        "the queued appends were not batched"
    );
    send(
        &mut link,
        Msg::Prepared {
            epoch: 1,
            round,
            last: 58,
        },
    )
    .await;
    for (i, q) in queued.into_iter().enumerate() {
        assert_eq!(q.await.unwrap().unwrap(), 9 + i as u64);
    }
    assert_eq!(primary.status().rounds.max_in_flight, 8);
    primary.close().await.unwrap();
}

/// Regression: on `Sync`, a replica dropped its prepared tail and fetched it again; promoted in
/// that window, it lost ops the primary had committed and acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_promoted_while_resyncing_keeps_what_the_primary_committed() {
    let dir = tempfile::tempdir().unwrap();
    let replica = ReplLog::open(
        file(dir.path(), "r"),
        Config::new("127.0.0.1:0", StartAs::Replica, hs("r")),
    )
    .await
    .unwrap();
    let mut link = dial(replica.local_addr()).await;
    send(&mut link, sync(0, 0)).await;
    recv(&mut link).await;
    send(
        &mut link,
        Msg::Prepare {
            epoch: 1,
            round: 1,
            first: 1,
            ops: vec![op("a"), op("b")],
            committed: 0,
        },
    )
    .await;
    assert_eq!(
        recv(&mut link).await,
        Msg::Prepared {
            epoch: 1,
            round: 1,
            last: 2
        }
    );
    // The primary commits and acknowledges 1..=2; its Commit is lost with the link. It comes
    // back and syncs; the replica asks for what it must check.
    drop(link);
    let mut link = dial(replica.local_addr()).await;
    send(&mut link, sync(2, 2)).await;
    assert_eq!(recv(&mut link).await, Msg::Fetch { epoch: 1, from: 1 });
    // The primary dies before answering: the replica is promoted.
    drop(link);
    replica.promote(vec![]).await.unwrap();
    let data: Vec<_> = replica.read(1, 10).await.unwrap();
    let data: Vec<_> = data.iter().map(|p| p.op.data.clone()).collect();
    assert_eq!(data, ["a", "b"]);
    replica.close().await.unwrap();
}

/// Messages of a link the primary replaced (reordered behind the new link's) are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_on_a_superseded_link_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let replica = ReplLog::open(
        file(dir.path(), "r"),
        Config::new("127.0.0.1:0", StartAs::Replica, hs("r")),
    )
    .await
    .unwrap();
    let mut old = dial(replica.local_addr()).await;
    send(&mut old, sync(0, 0)).await;
    recv(&mut old).await;
    let mut new = dial(replica.local_addr()).await;
    send(&mut new, sync(0, 0)).await;
    recv(&mut new).await;
    let stale = Msg::Prepare {
        epoch: 1,
        round: 1,
        first: 1,
        ops: vec![op("stale")],
        committed: 1,
    };
    send(&mut old, stale).await;
    // Answered in order on the new link: by then the stale message was handled (or not).
    send(
        &mut new,
        Msg::Prepare {
            epoch: 1,
            round: 2,
            first: 1,
            ops: vec![op("fresh")],
            committed: 0,
        },
    )
    .await;
    let reply = tokio::time::timeout(Duration::from_millis(200), old.recv()).await;
    assert!(reply.is_err(), "the old link got an answer: {reply:?}");
    assert_eq!(
        recv(&mut new).await,
        Msg::Prepared {
            epoch: 1,
            round: 2,
            last: 1
        }
    );
    assert_eq!(replica.committed(), 0, "the stale Prepare's commit applied");
    send(
        &mut new,
        Msg::Commit {
            epoch: 1,
            through: 1,
        },
    )
    .await;
    replica.wait_committed(0).await.unwrap();
    assert_eq!(replica.read(1, 1).await.unwrap()[0].op.data, "fresh");
    replica.close().await.unwrap();
}
